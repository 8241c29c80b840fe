"""The live path: every committed node change pushed to this process's followers as it happens."""
