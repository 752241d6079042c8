"""An import-linter contract type: private modules stay inside their package.

A module whose name starts with ``_`` (``rxspike.core._demand``) is private to the package
that holds it (``rxspike.core``): modules in that package and below may import it, nobody
else may. Every other layer reaches the core through its public modules
(``rxspike.core.kit`` for the stage kit). Unlike a ``forbidden`` contract it needs no list
of modules, so a private module added tomorrow is covered too.
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output


def _owner(module: str) -> str | None:
    """The package a module is private to, or None for a public module."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


class PrivateModulesContract(Contract):
    """``containers``: the packages whose modules are checked (e.g. ``rxspike``)."""

    type_name = "private modules"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        containers: list[str] = list(self.containers)  # type: ignore[call-overload]
        violations: list[dict[str, Any]] = []
        for importer in sorted(graph.modules):
            if not any(importer == c or importer.startswith(c + ".") for c in containers):
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                owner = _owner(imported)
                if owner is None or importer == owner or importer.startswith(owner + "."):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = sorted({detail["line_number"] for detail in details})
                violations.append(
                    {"importer": importer, "imported": imported, "owner": owner, "lines": lines}
                )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{line}" for line in violation["lines"])
            output.print_error(
                f"{violation['importer']} -> {violation['imported']} ({lines}): private to "
                f"{violation['owner']}; import a public module of it instead"
            )
            output.new_line()
