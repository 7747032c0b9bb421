"""The README documents every configuration variable the code reads."""

from pathlib import Path

from och_dashboard.config import VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_variable_is_in_the_readme_table():
    for name, (default, description) in VARIABLES.items():
        assert f"| `{name}` | {default} | {description} |" in README, name


def test_readme_opens_with_the_two_commands():
    head = README.split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head
