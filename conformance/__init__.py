"""optimspec.conformance: golden I/O, cases, adapters, runner, reports and the CLI."""
