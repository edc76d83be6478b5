"""The orchestration of one benchmark run: rounds, processes, results."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from bench import cleanup
from bench import environment
from bench import exports
from bench import machine
from bench import output
from bench import second
from bench import summary as bench_summary
from bench import timeline
from bench.children import Children
from bench.children import Outcome
from bench.common import BASELINE_MARK
from bench.common import CONTENDERS
from bench.common import IMAGE_MARK
from bench.common import INTREE
from bench.common import unmount_all_under
from bench.data import FULL
from bench.data import QUICK
from bench.data import DataSet
from bench.data import Profile
from bench.failed import Failures
from bench.worker import CURVE
from bench.worker import HOT_WORKLOADS
from bench.worker import SECONDARY

PROFILED = ("add_known", "get", "add_unknown_small", "add_small",
            "sparse_thin")


def log(msg: str) -> None:
    print(msg, flush=True)


def order(contenders: list[str], rnd: int) -> list[str]:
    """ABBA: the given order in even rounds, reversed in odd ones."""
    return list(contenders) if rnd % 2 == 0 else list(reversed(contenders))


def rounds_of(workload: str, profile: Profile, rounds: int) -> int:
    """In how many of the first rounds a workload runs (the headline
    rows: in all of them)."""
    if workload in SECONDARY:
        return min(rounds, profile.secondary_rounds)
    if workload in CURVE:
        return min(rounds, profile.curve_rounds)
    if workload in HOT_WORKLOADS:
        return min(rounds, profile.hot_rounds)
    return rounds


def expected(workloads: list[str], contender: str,
             samples: list[dict[str, Any]]) -> set[str]:
    """The workloads a contender's process must have reported."""
    want = set(workloads)
    if contender == INTREE:
        want.discard("sparse_thin")  # it has no thin store
    if any(not s["ok"] for s in samples
           if s["workload"] == "concurrent_add"):
        want.discard("concurrent_get")  # nothing to read: reported
    return want


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.profile = QUICK if args.quick else FULL
        self.rounds = (self.profile.rounds if args.rounds is None
                       else args.rounds)
        self.run_id = uuid.uuid4().hex[:4]
        self.results = pathlib.Path(args.results)
        self.logs = self.results / "logs"
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="gsc-bench-",
                                                     dir="/var/tmp"))
        self.children = Children(self.workdir, self.logs, log)
        self.samples: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []  # bench/timeline.py
        self.findings: list[str] = []
        self.failures = Failures()
        self.lost: list[str] = []       # what makes the run rejected
        self.env: dict[str, Any] = {}
        self.admin: Any = None
        # The end-to-end rows: the stack's glance-api, and one with the
        # in-tree driver that the run starts (bench/second.py).
        self.e2e = second.wanted(args.workloads)
        self.second = second.InTreeGlanceApi(log)

    # -- between processes -------------------------------------------------
    def mount_bases(self) -> list[pathlib.Path]:
        return [self.workdir / c / "mnt" for c in CONTENDERS] + \
            [self.workdir / "baseline" / "mnt"]

    def tidy(self, after: str | None = None) -> None:
        """Nothing mounted, no volume of ours left, before the next one."""
        left = unmount_all_under(*self.mount_bases())
        if left and after:
            self.findings.append("%s left mounted: %s" % (after, left))
        # The in-tree driver's mount reference counts live next to its
        # mount points; a stale count would keep the next mount alive.
        for c in CONTENDERS:
            shutil.rmtree(self.workdir / c / "mnt" / "_state",
                          ignore_errors=True)
        leaked = cleanup.retrying(
            lambda: cleanup.named(self.admin, self.prefixes()), log=log)
        if leaked and after:
            self.findings.append("%s left %d volume(s): %s" % (
                after, len(leaked), ", ".join("%s (%s)" % (v.id, v.status)
                                               for v in leaked)))
        if leaked:
            cleanup.retrying(
                lambda: cleanup.sweep(self.admin, self.prefixes()), log=log)

    def prefixes(self) -> list[str]:
        return ["image-%s%s-" % (IMAGE_MARK, self.run_id),
                "%s%s-" % (BASELINE_MARK, self.run_id)]

    def image_prefix(self, rnd: int, contender: str) -> str:
        return "%s%s-%02x%02x-" % (IMAGE_MARK, self.run_id, rnd,
                                   CONTENDERS.index(contender))

    # -- the rounds ---------------------------------------------------------
    def round(self, rnd: int) -> None:
        common = {"env": self.env, "round": rnd,
                  "profile": self.profile.name,
                  "data_dir": self.args.data_dir,
                  "ours_options": self.args.ours_options}
        if not self.args.no_baselines:
            self.attempts("limits", rnd, "bench.baseline", dict(
                common, parts=["hashing", "device", "cinder"],
                name_prefix="%s%s-" % (BASELINE_MARK, self.run_id),
                workdir=str(self.workdir / "baseline")), [])
        workloads = [w for w in self.args.workloads
                     if rnd < rounds_of(w, self.profile, self.rounds)]
        for contender in order(self.args.contenders, rnd):
            asked = self.failures.still_asked(contender, workloads, rnd)
            if workloads and not asked:
                continue
            spec = dict(common, contender=contender, workloads=asked,
                        image_prefix=self.image_prefix(rnd, contender),
                        workdir=str(self.workdir / contender))
            if second.wanted(asked):
                spec["glance_api"] = self.second.spec(self.env, contender)
            self.attempts(contender, rnd, "bench.worker", spec, asked)

    def attempts(self, who: str, rnd: int, module: str,
                 spec: dict[str, Any], workloads: list[str],
                 tries: int = 3) -> None:
        """Run one process; again (up to ``tries``) when the environment
        went away under it (someone restarted the services): such a
        failure is not the contender's and its timings are not kept."""
        for attempt in range(1, tries + 1):
            t0 = time.perf_counter()
            self.tidy()
            name = "round%d-%s" % (rnd, who) + (
                "-try%d" % attempt if attempt > 1 else "")
            t1 = time.perf_counter()
            outcome = self.children.spawn(module, dict(spec), name)
            t2 = time.perf_counter()
            self.tidy(after="%s round %d" % (who, rnd))
            self.note_process(who, rnd, module, outcome, t2 - t1,
                              (t1 - t0) + (time.perf_counter() - t2))
            if not self.troubled(outcome):
                break
            log("  %-8s the environment went away during the run "
                "(attempt %d of %d); waiting for it, then again"
                % (who, attempt, tries))
            self.findings.append("%s round %d: environment outage, "
                                 "repeated" % (who, rnd))
            env, _ = environment.ensure(
                log, allow_start=not self.args.no_start, glance=self.e2e)
            self.env = exports.select(env, self.args.export)
            self.second.ensure()
        else:
            self.lost.append("%s round %d: lost to outages" % (who, rnd))
        self.take(outcome, who, rnd, workloads)

    def note_process(self, who: str, rnd: int, module: str,
                     outcome: Outcome, wall_s: float, tidy_s: float) -> None:
        info = dict(outcome.out.get("info", {}))
        if module == "bench.baseline":
            # The limits are one part of their own: all of the process.
            info["wall"] = {"limits": wall_s}
        self.processes.append(timeline.Process(
            who, rnd, wall_s, tidy_s, info).as_dict())

    def troubled(self, outcome: Outcome) -> bool:
        samples = outcome.out.get("samples", [])
        return any(s.get("outage") for s in samples) or (
            (not samples or any(not s["ok"] for s in samples))
            and not environment.cinder_answers(self.env))

    def take(self, outcome: Outcome, who: str, rnd: int,
             workloads: list[str]) -> None:
        out = outcome.out
        got = out.get("samples", [])
        self.samples += got
        self.failures.take(who, rnd, got)
        if outcome.problem:
            self.lost.append(outcome.problem)
        if out.get("info", {}).get("error"):
            self.findings.append("%s: %s" % (who, out["info"]["error"]))
        if out.get("info", {}).get("not_asked"):
            self.findings.append("%s round %d: not asked after a smaller "
                                 "size failed: %s" % (who, rnd, ", ".join(
                                     out["info"]["not_asked"])))
        # A curve workload reports one sample per size: "<name>@<bytes>".
        missing = expected(workloads, who, got) - {
            s["workload"].split("@")[0] for s in got}
        if workloads and missing:
            self.lost.append("%s round %d: no samples for %s" % (
                who, rnd, ", ".join(sorted(missing))))
        if any(s.get("extra", {}).get("cache_dropped") is False
               for s in got):
            self.findings.append("%s round %d: page cache not dropped "
                                 "(not root): only synced" % (who, rnd))
        short = sorted({s["workload"] for s in got if s.get(
            "extra", {}).get("file_is_volume_size") is False})
        if short:
            self.findings.append(
                "%s round %d: backing file smaller than its volume after "
                "%s (the image is intact; the volume lost its size)"
                % (who, rnd, ", ".join(short)))
        log("  %-8s %s" % (who, _brief(got)))

    def profile_pass(self) -> None:
        pdir = self.results / "profile"
        pdir.mkdir(parents=True, exist_ok=True)
        for old in pdir.glob("*"):
            old.unlink()
        workloads = [w for w in PROFILED if w in self.args.workloads]
        log("profiling (untimed): %s" % ", ".join(workloads))
        for contender in self.args.contenders:
            self.tidy()
            self.children.spawn("bench.worker", dict(
                env=self.env, round=99, profile=self.profile.name,
                data_dir=self.args.data_dir, contender=contender,
                workloads=workloads, profile_dir=str(pdir),
                image_prefix=self.image_prefix(99, contender),
                workdir=str(self.workdir / contender)),
                "profile-%s" % contender)
            self.tidy(after="%s profiling" % contender)
        log("bench: profiles in %s" % pdir)

    # -- the run ------------------------------------------------------------
    def prepare(self) -> tuple[float, DataSet]:
        """The environment up, stale volumes gone, the data ready."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*"):
            old.unlink()
        env, env_start = environment.ensure(
            log, allow_start=not self.args.no_start, glance=self.e2e)
        self.env = exports.select(env, self.args.export)
        self.admin = cleanup.admin_client(self.env)
        if self.e2e:
            second.sweep_images(self.env, IMAGE_MARK, log)
        if self.e2e and INTREE in self.args.contenders:
            self.second.start(self.env)
        marks = ["image-" + IMAGE_MARK, BASELINE_MARK]
        stale = cleanup.retrying(lambda: cleanup.named(self.admin, marks),
                                 log=log)
        if stale:
            log("bench: removing %d volume(s) left by an earlier run"
                % len(stale))
            cleanup.retrying(lambda: cleanup.sweep(self.admin, marks),
                             log=log)
        data = DataSet(self.args.data_dir, self.profile)
        t_data = time.monotonic()
        data.prepare(log=log)
        log("bench: data ready in %.1f s" % (time.monotonic() - t_data))
        return env_start, data

    def main(self) -> int:
        t0 = time.monotonic()
        started = datetime.datetime.now(datetime.UTC)
        load_start = machine.loadavg()
        if load_start and load_start[0] > 1.0:
            log("bench: load average %.2f before the start: other work on "
                "this machine will add noise to the timings" % load_start[0])
        env_start, data = self.prepare()
        before_rounds = time.monotonic() - t0
        log("bench: %s profile, %d round(s), contenders %s, ABBA" % (
            self.profile.name, self.rounds,
            " then ".join(self.args.contenders)))
        for rnd in range(self.rounds):
            log("round %d/%d (%.0f s elapsed)" % (rnd + 1, self.rounds,
                                                   time.monotonic() - t0))
            self.round(rnd)
        self.findings += self.second.stop()
        self.findings += self.failures.findings()
        duration = time.monotonic() - t0
        if self.args.profile:
            self.profile_pass()
        if not self.rounds:
            return 0
        run = {
            "profile": self.profile.name,
            "sizes": dataclasses.asdict(self.profile),
            "rounds": self.rounds,
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": duration,
            "env_start_s": env_start,
            "machine": machine.machine(),
            "versions": machine.versions(self.env),
            "volume_type": self.env["volume_types"]["fast"],
            "export": self.args.export,
            "ours_options": self.args.ours_options,
            "loadavg_start": load_start,
            "loadavg_end": machine.loadavg(),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "order": {str(r): order(self.args.contenders, r)
                      for r in range(self.rounds)},
            "time": timeline.account(self.processes, self.samples,
                                     duration, before_rounds),
        }
        return publish(self.results, run, self.samples, self.findings,
                       self.lost, data_bytes(self.profile))

    def stop_e2e(self) -> None:
        """The in-tree glance-api stopped, the run's images deleted."""
        try:
            self.second.stop()
            if self.e2e and self.env:
                second.sweep_images(self.env, IMAGE_MARK + self.run_id, log)
        except Exception as exc:
            log("bench: stopping the end-to-end rows' glance-api or "
                "deleting their images failed: %s" % exc)

    def cleanup(self) -> None:
        self.children.stop()
        self.stop_e2e()
        try:
            if self.admin is not None:
                left = cleanup.retrying(lambda: cleanup.sweep(
                    self.admin, self.prefixes(), log=log), log=log)
                if left:
                    log("bench: could NOT remove volumes: %s" % left)
        except Exception as exc:
            log("bench: cleaning volumes failed: %s" % exc)
        try:
            unmount_all_under(self.workdir)
        except Exception as exc:
            log("bench: unmounting failed: %s" % exc)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        export = self.env.get("nfs", {}).get("export_dir")
        if export:
            for p in pathlib.Path(export).glob(
                    "%s%s-*.tmp" % (BASELINE_MARK, self.run_id)):
                p.unlink(missing_ok=True)
        if not self.args.keep_data:
            shutil.rmtree(self.args.data_dir, ignore_errors=True)


def _brief(samples: list[dict[str, Any]]) -> str:
    by: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        by.setdefault(s["workload"], []).append(s)
    parts = ["%s %.2fs" % (w, statistics.median(s["seconds"] for s in ss))
             if all(s["ok"] for s in ss) else "%s FAILED" % w
             for w, ss in by.items()]
    return ", ".join(parts) or "(no samples)"


def data_bytes(profile: Any) -> dict[str, int]:
    data = DataSet("/nonexistent", profile)
    nbytes = data.data_bytes("sparse")
    return {"sparse_dense": nbytes, "sparse_thin": nbytes}


def profile_of(run: dict[str, Any]) -> Profile:
    """The sizes the run used (older runs: today's of its name)."""
    if run.get("sizes"):
        return Profile(**run["sizes"])
    return QUICK if run["profile"] == "quick" else FULL


def publish(results: pathlib.Path, run: dict[str, Any],
            samples: list[dict[str, Any]], findings: list[str],
            lost: list[str], sparse_bytes: dict[str, int]) -> int:
    """Summarize, show, and write the results; 0 if the run is accepted.
    """
    profile = profile_of(run)
    summary = bench_summary.summarize(samples, profile, sparse_bytes,
                                      run["machine"]["nproc"])
    summary["ours_options"] = run.get("ours_options") or {}
    output.console(summary, profile, findings, log)
    for line in lost:
        log("lost: " + line)
    doc = {"run": run, "summary": summary, "findings": findings,
           "lost": lost, "samples": samples}
    stem = exports.stem(run["profile"], run.get("export", "disk"))
    output.publish(results, stem, doc, profile, accepted=not lost, log=log)
    return 1 if lost else 0
