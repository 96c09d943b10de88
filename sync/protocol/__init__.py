"""The sync protocol, sans I/O: ``messages`` (the wire types), ``codec`` (MessagePack
frames to messages and back) and ``sessions`` (each end's state machine)."""
