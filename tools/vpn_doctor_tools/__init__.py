"""Local tooling around vpn-doctor: the `vpn-doctor` command, the demo and its AWS emulator.

Never shipped to Lambda: the function asset is functions/ only (an allow-list, see stacks/packaging.py).
"""
