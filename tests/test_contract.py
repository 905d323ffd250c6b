"""The data-contract table of docs/data-contract.md and scrobin.contract name the same keys."""

import re
from pathlib import Path

from scrobin import contract

README = Path(__file__).resolve().parent.parent / "docs" / "data-contract.md"


def readme_contract_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("`"):
            rows.append((cells[0], cells[1].strip("`"), cells[2].strip("`")))
    return rows


def test_readme_data_contract_matches_the_module():
    rows = readme_contract_rows()
    assert [(file, field) for file, field, _ in rows] == list(contract.FIELDS)
    for _, field, constant in rows:
        key = re.findall(r'\["([^"]+)"\]', field)[-1]
        assert getattr(contract, constant) == key, f"README says {field} is {constant}, the module says {getattr(contract, constant)!r}"


def test_every_contract_key_is_in_the_readme():
    constants = {name for name in dir(contract) if name.isupper() and name != "FIELDS"}
    assert constants == {constant for _, _, constant in readme_contract_rows()}
