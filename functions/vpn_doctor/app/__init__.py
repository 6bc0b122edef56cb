"""Use cases: one function each (deliver a log batch, apply a state change, respond to a transition,
deliver an alert, run a post-check), taking their ports and ``now`` explicitly.

Handlers call exactly one of them; the CLI and the demo call the same ones. No environment reads and
no clock reads here: the caller passes both in.
"""
