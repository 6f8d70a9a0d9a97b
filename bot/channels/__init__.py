"""Channels: the Twilio webhook adapter (inbound) and the transports that send (outbound)."""
