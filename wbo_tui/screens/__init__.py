"""The console's screens and the areas shown inside the shell (one module each)."""
