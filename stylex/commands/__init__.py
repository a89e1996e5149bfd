"""One module per `stylex` sub-command; see stylex/cli.py for the contract."""
