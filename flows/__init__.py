"""Conversation flows: one python-statemachine machine per flow, bound to the conversation row."""
