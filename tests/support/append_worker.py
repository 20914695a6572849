"""A separate process that appends test entries to one log, printing each acknowledged one.

    python -m tests.support.append_worker LOG_ID TAG COUNT THREADS

Prints `ack <index> <n>` after each append's commit returned.
"""

from __future__ import annotations

import sys
import threading

from api.container import build
from api.settings import Settings
from tests.support import entries as _entries  # noqa: F401


def main() -> None:
    log_id, tag, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    container = build(Settings.from_env())
    lock = threading.Lock()
    counter = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            appended = container.appender.run(
                [log_id], lambda w, n=n: w.append(log_id, "test.event", {"n": n, "pad": tag})
            )
            with lock:
                sys.stdout.write(f"ack {appended.index} {n}\n")
                sys.stdout.flush()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    sys.stdout.write(
        f"done {container.appender.stats.batches} {container.appender.stats.entries}\n"
    )


if __name__ == "__main__":
    main()
