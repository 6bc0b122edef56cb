"""The ``vpn-doctor`` command."""
