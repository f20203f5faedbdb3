"""One module per wizard page; each page reads and writes the shared :class:`WizardState`."""
