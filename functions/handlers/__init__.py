"""Lambda handlers: thin adapters from AWS events to the vpn_doctor core."""
