"""``python -m deltamem.mcp_server [--transport stdio|http] ...``: the ``deltamem mcp`` command on its own."""

import typer

from deltamem.cli.mcp_cmd import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)  # one command and no callback: typer runs it without a subcommand name

if __name__ == "__main__":
    app(prog_name="python -m deltamem.mcp_server")
