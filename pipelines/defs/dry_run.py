"""The dry run in the UI: the `check_file` job reads one file through a partner's profile, as
`stockdrop check` does (launchpad config: `file` = a path the code location can read, `partner`),
landing nothing. Its run shows the rejects and the summary; a file that would be rejected whole
fails the run with the reason."""

from pathlib import Path

import dagster as dg

from pipelines.adapters.checking import check_file as check
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import rejects_table, text
from pipelines.defs.resources import PartnersResource


class FileToCheck(dg.Config):
    file: str  # a path on the machine the code location runs on
    partner: str


@dg.op
def dry_run(context: dg.OpExecutionContext, config: FileToCheck, partners: PartnersResource) -> dg.Output:
    """Read the file as a landed version would be read; record nothing."""
    with in_one_line():
        path = Path(config.file)
        if not path.is_file():
            raise dg.Failure(description=f"no file {config.file!r}", allow_retries=False)
        result = check(partners.spec(config.partner), path)
    where = f"{result.kind} as of {result.as_of:%Y-%m-%dT%H:%M:%S}" if result.as_of else "name not read"
    if result.rejected is not None:
        raise dg.Failure(
            description=f"{result.name} would be rejected whole: {result.rejected.reason}",
            allow_retries=False,
            metadata={"file": text(result.name), "read_as": text(where), "rejects": rejects_table(result.rejects)},
        )
    assert result.parsed is not None
    context.log.info(
        f"{result.name}: {where}: {result.parsed.rows_read} rows read, {result.parsed.rows.height} accepted"
    )
    return dg.Output(
        None,
        metadata={
            "file": text(result.name),
            "read_as": text(where),
            "rows_read": dg.MetadataValue.int(result.parsed.rows_read),
            "rows_accepted": dg.MetadataValue.int(result.parsed.rows.height),
            "rows_rejected": dg.MetadataValue.int(result.parsed.rejects["line"].n_unique()),
            "rejects": rejects_table(result.rejects),
        },
    )


@dg.job(description="Dry run: read one file through a partner's profile, landing nothing (config: file, partner).")
def check_file():
    dry_run()
