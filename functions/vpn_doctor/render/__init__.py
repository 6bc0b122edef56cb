"""Message rendering, pure: :func:`~vpn_doctor.render.common.build_view` words an alert once, and one
renderer per message format lays that wording out (e-mail, Slack Block Kit, Amazon Q Developer in chat).

The channels (``vpn_doctor.channels``) pick the renderer their destination reads.
"""
