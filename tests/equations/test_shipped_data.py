"""Every data file shipped under equations/data/ is listed in its README with the true size and
checksum, carries a license the README names, and the whole folder stays small."""

import hashlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "equations" / "data"
ROW = re.compile(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \| [^|]+ \| (\w+) \|$")


def listed() -> dict[str, tuple[int, str, str]]:
    rows = {}
    for line in (DATA / "README.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, size, digest, license_name = match.groups()
            rows[name] = (int(size), digest, license_name)
    return rows


def test_every_shipped_file_is_listed_with_its_size_and_checksum():
    rows = listed()
    shipped = {p.name for p in DATA.iterdir() if p.suffix in (".dat", ".mat", ".npz", ".csv", ".h5")}
    assert shipped and shipped == set(rows), f"listed {sorted(rows)}, shipped {sorted(shipped)}"
    for name, (size, digest, license_name) in rows.items():
        content = (DATA / name).read_bytes()
        assert len(content) == size, name
        assert hashlib.sha256(content).hexdigest() == digest, name
        assert license_name == "MIT", f"{name}: only MIT-licensed data is shipped"
    assert "Copyright (c) 2024 PINNacle Dev Team" in (DATA / "LICENSE-PINNacle").read_text()


def test_shipped_data_stays_under_ten_megabytes():
    assert sum(p.stat().st_size for p in DATA.iterdir()) <= 10 * 2**20


def test_no_shipped_equation_reads_outside_the_repository():
    equations = DATA.parent
    for module in sorted(equations.glob("*.py")):
        text = module.read_text()
        assert "shared/" not in text, f"{module.name} points outside the repository"
