"""The CLI's commands, one module per group; ``dixit.cli`` runs them."""
