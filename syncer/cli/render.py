"""``incident-syncer render``: the notice or postmortem of an incident, as a tracker would get it."""

from __future__ import annotations

import json

import click

from syncer.cli.common import config_option, handle_errors, load_config


@click.command()
@click.argument("path", metavar="PATH")
@click.option(
    "--doc",
    type=click.Choice(["notice", "postmortem"]),
    default="notice",
    show_default=True,
    help="Which document to render.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "jira", "adf", "notion"]),
    default="markdown",
    show_default=True,
    help="markdown (GitHub), jira (wiki markup), adf (Jira Cloud v3), notion (block JSON).",
)
@click.option(
    "--lang",
    type=click.Choice(["ko", "en"]),
    default=None,
    help="Template language (default: config).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file."
)
@config_option
@handle_errors
def render(path: str, doc: str, fmt: str, lang: str | None, output: str | None) -> None:
    """Render the notice or the postmortem of the incident in PATH.

    `-` reads one incident from standard input: JSON if it starts with `{`,
    TOML if with `key =` or a `[table]`, YAML otherwise.

    \b
    Examples:
      incident-syncer render incidents/INC-1.yaml --doc postmortem
      incident-syncer render incidents/INC-1.yaml --doc notice --format jira --lang en
    """
    from syncer.cli.common import load_incidents
    from syncer.errors import InputError
    from syncer.render import Renderer

    config = load_config()
    loaded = load_incidents([path], config)
    if len(loaded) != 1:
        raise InputError(f"render takes one incident file, found {len(loaded)}", file=path)
    text = Renderer(config).render(doc, loaded[0].incident, lang=lang)
    out = convert(text, fmt)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(out)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(out, nl=not out.endswith("\n"))


def convert(markdown: str, fmt: str) -> str:
    if fmt == "markdown":
        return markdown
    from syncer import markup

    if fmt == "jira":
        return markup.to_jira_wiki(markdown)
    if fmt == "adf":
        return json.dumps(markup.to_adf(markdown), ensure_ascii=False, indent=2) + "\n"
    return json.dumps(markup.to_notion_blocks(markdown), ensure_ascii=False, indent=2) + "\n"
