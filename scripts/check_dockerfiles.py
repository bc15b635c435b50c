#!/usr/bin/env python3
"""Checks that each deploy/docker/<name>.Dockerfile builds and ships a binary the workspace has.

For every Dockerfile given: the `cargo build` line must name `-p <name> --bin <name>` (with
--release --locked), <name> must be a workspace package with a binary target <name>, the
runtime stage must COPY /.../release/<name>, and ENTRYPOINT and HEALTHCHECK must run it.
Reads Cargo.toml files with tomllib; never calls cargo. Prints one PASS/FAIL line per
Dockerfile and exits 1 if any failed.

Usage: check_dockerfiles.py DOCKERFILE...
"""

from __future__ import annotations

import glob
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def workspace_packages(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Package name -> binary target names for every workspace member (globs honoured), and
    the members listed without a Cargo.toml."""
    manifest = load_toml(root / "Cargo.toml")
    ws = manifest.get("workspace", {})
    excluded = {(root / e).resolve() for e in ws.get("exclude", [])}
    dirs: list[Path] = [root] if "package" in manifest else []
    for pattern in ws.get("members", []):
        dirs += [Path(p) for p in sorted(glob.glob(str(root / pattern)))]
    packages: dict[str, set[str]] = {}
    missing: list[str] = []
    for d in dirs:
        if d.resolve() in excluded:
            continue
        if not (d / "Cargo.toml").is_file():
            missing.append(str(d.relative_to(root)))
            continue
        pkg_manifest = load_toml(d / "Cargo.toml")
        pkg = pkg_manifest.get("package")
        if pkg:
            packages[pkg["name"]] = binary_targets(d, pkg_manifest)
    return packages, missing


def binary_targets(pkg_dir: Path, manifest: dict) -> set[str]:
    """Binary targets as Cargo sees them: explicit [[bin]] plus auto-discovered ones."""
    name = manifest["package"]["name"]
    bins: set[str] = set()
    for b in manifest.get("bin", []):
        inferred = [f"src/bin/{b['name']}.rs", f"src/bin/{b['name']}/main.rs"]
        if b["name"] == name:
            inferred.append("src/main.rs")
        candidates = [b["path"]] if "path" in b else inferred
        if any((pkg_dir / c).is_file() for c in candidates):
            bins.add(b["name"])
    if manifest["package"].get("autobins", True):
        if (pkg_dir / "src/main.rs").is_file():
            bins.add(name)
        bins |= {p.stem for p in pkg_dir.glob("src/bin/*.rs")}
        bins |= {p.parent.name for p in pkg_dir.glob("src/bin/*/main.rs")}
    return bins


def logical_lines(text: str) -> list[str]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            lines.append(" ".join(current.split()))
        current = ""
    if current.strip():
        lines.append(" ".join(current.split()))
    return lines


def check(dockerfile: Path, packages: dict[str, set[str]], missing: list[str]) -> list[str]:
    name = dockerfile.name.removesuffix(".Dockerfile")
    lines = logical_lines(dockerfile.read_text())
    problems: list[str] = []

    builds = [l for l in lines if l.upper().startswith("RUN ") and "cargo build" in l]
    if len(builds) != 1:
        problems.append(f"expected exactly one `cargo build` RUN, found {len(builds)}")
    for build in builds:
        cmd = build[build.index("cargo build"):].split("&&")[0].split()
        pkgs = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a in ("-p", "--package")]
        bins = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == "--bin"]
        if pkgs != [name] or bins != [name]:
            problems.append(f"cargo build must name `-p {name} --bin {name}`, has -p {pkgs} --bin {bins}")
        for flag in ("--release", "--locked"):
            if flag not in cmd:
                problems.append(f"cargo build lacks {flag}")

    copies = [l for l in lines if re.match(r"COPY\s+--from=", l, re.I) and "/release/" in l]
    sources = [tok for l in copies for tok in l.split()[1:-1] if "/release/" in tok]
    if not sources:
        problems.append("no COPY --from=... of a /.../release/<binary> into the runtime image")
    for src in sources:
        if not re.fullmatch(rf"/\S*/release/{re.escape(name)}", src):
            problems.append(f"copies {src}, expected /.../release/{name}")

    for instr in ("ENTRYPOINT", "HEALTHCHECK"):
        found = [l for l in lines if l.upper().startswith(instr + " ")]
        if not any(re.search(rf"/{re.escape(name)}\b", l) for l in found):
            problems.append(f"{instr} does not run {name}")

    if name not in packages:
        note = f"; members without a Cargo.toml: {', '.join(missing)}" if missing else ""
        problems.append(f"no workspace package named {name} (packages: {', '.join(sorted(packages))}{note})")
    elif name not in packages[name]:
        problems.append(f"package {name} has no binary target {name} (has: {sorted(packages[name]) or 'none'})")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    packages, missing = workspace_packages(ROOT)
    failed = 0
    for arg in argv:
        path = Path(arg)
        problems = check(path, packages, missing)
        label = path.name.removesuffix(".Dockerfile")
        if problems:
            failed += 1
            print(f"FAIL {label}: " + "; ".join(problems))
        else:
            print(f"PASS {label}: -p {label} --bin {label} matches the workspace")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
