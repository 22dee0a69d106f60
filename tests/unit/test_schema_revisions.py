"""``services.schema`` reads the migration chain without importing alembic; the reading is alembic's own."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from airpool.services import schema


def test_the_revisions_and_the_head_are_the_ones_alembic_reads() -> None:
    scripts = ScriptDirectory.from_config(schema._config())
    assert schema.revisions() == {s.revision: s.down_revision for s in scripts.walk_revisions()}
    assert schema.head() == scripts.get_current_head()


def test_checking_the_schema_imports_no_alembic(tmp_path: object) -> None:
    """``airpool serve`` checks the schema at every start and ``/readyz`` at every probe: alembic (a tenth of a
    second of CPU) is imported only to migrate."""
    code = (
        "import sys\n"
        "from airpool.api import app\n"
        "from airpool.services import schema\n"
        f"state = schema.check('sqlite:///{tmp_path}/none.db')\n"
        "assert state.status is schema.SchemaStatus.BEHIND, state\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
