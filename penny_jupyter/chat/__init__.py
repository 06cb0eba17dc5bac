"""Conversations and the assistant turn loop."""
