"""The ``optimspec`` command line."""
import click


@click.group()
def main() -> None:
    """optimspec: executable spec, golden vectors and conformance checks."""
