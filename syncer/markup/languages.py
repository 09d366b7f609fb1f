"""Code-fence languages: one alias table, and each tracker's names for the languages it knows."""

from __future__ import annotations

JIRA_LANGUAGES = frozenset(
    [
        "actionscript", "ada", "applescript", "bash", "c", "c#", "c++", "css", "erlang", "go",
        "groovy", "haskell", "html", "java", "javascript", "json", "lua", "nyan", "objc", "perl",
        "php", "python", "r", "ruby", "scala", "sql", "swift", "visualbasic", "xml", "yaml",
    ]
)  # fmt: skip

NOTION_LANGUAGES = frozenset(
    [
        "abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf", "c",
        "c#", "c++", "clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker",
        "ebnf", "elixir", "elm", "erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go",
        "graphql", "groovy", "haskell", "hcl", "html", "idris", "java", "javascript", "json",
        "julia", "kotlin", "latex", "less", "lisp", "livescript", "llvm ir", "lua", "makefile",
        "markdown", "markup", "matlab", "mathematica", "mermaid", "nix", "notion formula",
        "objective-c", "ocaml", "pascal", "perl", "php", "plain text", "powershell", "prolog",
        "protobuf", "purescript", "python", "r", "racket", "reason", "ruby", "rust", "sass",
        "scala", "scheme", "scss", "shell", "smalltalk", "solidity", "sql", "swift", "toml",
        "typescript", "vb.net", "verilog", "vhdl", "visual basic", "webassembly", "xml", "yaml",
        "java/c/c++/c#",
    ]
)  # fmt: skip

# A fence's short name → the language's name (Notion's spelling, the longer list).
ALIASES = {
    "js": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "py": "python",
    "sh": "shell",
    "zsh": "shell",
    "console": "shell",
    "yml": "yaml",
    "cs": "c#",
    "csharp": "c#",
    "cpp": "c++",
    "golang": "go",
    "rb": "ruby",
    "rs": "rust",
    "kt": "kotlin",
    "dockerfile": "docker",
    "md": "markdown",
    "tf": "hcl",
    "text": "plain text",
    "txt": "plain text",
    "plaintext": "plain text",
    "ps1": "powershell",
    "objc": "objective-c",
    "tex": "latex",
    "vb": "visual basic",
}

# Where Jira spells a language otherwise (it has no "shell": a shell session is bash to it).
_JIRA_NAMES = {"shell": "bash", "objective-c": "objc", "visual basic": "visualbasic"}


def jira_language(language: str) -> str | None:
    """The Jira name of a fence's language; ``None`` when Jira has none."""
    name = ALIASES.get(language, language)
    name = _JIRA_NAMES.get(name, name)
    return name if name in JIRA_LANGUAGES else None


def notion_language(language: str) -> str:
    """The Notion name of a fence's language; ``plain text`` when Notion has none."""
    language = ALIASES.get(language.lower(), language.lower())
    return language if language in NOTION_LANGUAGES else "plain text"
