"""The HTTP side: app factory and thin views."""
