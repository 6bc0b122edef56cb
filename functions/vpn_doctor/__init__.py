"""vpn-doctor: find out why an AWS Site-to-Site VPN tunnel is down, flapping or idle.

This package is the pure domain core: it takes data and returns data. Nothing in it
(except the ``aws`` adapters and the ``cli``) talks to AWS, reads the environment or the clock.
"""

__version__ = "0.1.0"
