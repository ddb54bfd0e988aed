"""The quality checks of a conversation, one module per family; lib.core.validation runs them."""
