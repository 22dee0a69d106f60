"""The open-files limit of a long-running airpool process (``serve``, ``commander``).

commander's pool watches hold up to 4,000 connections to the API server (``commander.pool_watch``), and a server
holds one per client connection; a common default soft limit is 1,024, which a large pool passes long before the
hard limit (often 524,288) does. The soft limit is raised to the hard one at start, as Go's runtime does for every
Go program (kube-apiserver, kubectl): only the hard limit is a decision of the administrator.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("airpool.process")


def raise_to_hard_limit() -> tuple[int, int]:
    """Raise ``RLIMIT_NOFILE``'s soft limit to its hard limit; returns (soft, hard) as they are afterwards. A
    system that refuses (a hard limit of infinity on some kernels) leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, hard, exc)
            return soft, hard
        return hard, hard
    return soft, hard
