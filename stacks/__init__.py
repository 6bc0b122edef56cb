"""The vpn-doctor CDK app: one stack composed of small constructs, configured from ``cdk.json`` context."""
