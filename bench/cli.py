"""``python -m bench``: the whole benchmark, environment included."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from bench import cleanup
from bench import environment
from bench import report
from bench.common import BASELINE_MARK
from bench.common import CONTENDERS
from bench.common import IMAGE_MARK
from bench.common import REPO
from bench.common import unmount_all_under
from bench.common import write_json
from bench.data import FULL
from bench.data import QUICK
from bench.data import DataSet
from bench.data import sparse_layout
from bench.worker import WORKLOADS

RESULTS = REPO / "bench" / "results"
PROFILED = ("add_known", "get", "add_unknown_small", "add_small",
            "sparse_thin")
WORKER_TIMEOUT = 20 * 60


def log(msg: str) -> None:
    print(msg, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark glance_store_cinder against glance_store's "
        "in-tree cinder driver and the machine's limits, on the services "
        "of tools/openstack-aio (started if needed).  Needs root.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: one round, small images (~3 min)")
    p.add_argument("--rounds", type=int,
                   help="rounds (default: %d, --quick: %d)"
                   % (FULL.rounds, QUICK.rounds))
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of: %s"
                   % ", ".join(WORKLOADS))
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated subset of: ours, in-tree")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the hashing/device/Cinder limits")
    p.add_argument("--no-start", action="store_true",
                   help="never run tools/openstack-aio/up; wait for the "
                   "services instead")
    p.add_argument("--data-dir", default="/dev/shm/gsc-bench-data",
                   help="where the image data is generated (tmpfs)")
    p.add_argument("--keep-data", action="store_true",
                   help="keep the generated data for the next run")
    p.add_argument("--results", default=str(RESULTS),
                   help="directory for latest.{json,md,png} and logs")
    p.add_argument("--no-install", action="store_true",
                   help="do not pip-install matplotlib (chart) or "
                   "pyinstrument (--profile)")
    p.add_argument("--from-json", metavar="PATH",
                   help="no run: summarize the samples of a results "
                   "JSON again and rewrite its table, Markdown and chart")
    p.add_argument("--profile", action="store_true",
                   help="after the rounds, one untimed pass of each "
                   "contender under pyinstrument: "
                   "results/profile/<contender>-<workload>.{txt,html} "
                   "(with --rounds 0: only that)")
    args = p.parse_args(argv)
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        p.error("unknown workloads: %s" % ", ".join(sorted(unknown)))
    args.contenders = [c for c in args.contenders.split(",") if c]
    if set(args.contenders) - set(CONTENDERS):
        p.error("contenders are: %s" % ", ".join(CONTENDERS))
    return args


class Interrupted(Exception):
    pass


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


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
        self.samples: list[dict[str, Any]] = []
        self.findings: list[str] = []
        self.child: subprocess.Popen[bytes] | None = None
        self.env: dict[str, Any] = {}
        self.admin: Any = None

    # -- children ---------------------------------------------------------
    def spawn(self, module: str, spec: dict[str, Any], name: str
              ) -> dict[str, Any]:
        spec_path = self.workdir / ("%s.spec.json" % name)
        spec["out"] = str(self.workdir / ("%s.out.json" % name))
        spec["log"] = str(self.logs / ("%s.log" % name))
        write_json(spec_path, spec)
        stderr_path = self.logs / ("%s.stderr" % name)
        with open(stderr_path, "wb") as err:
            self.child = subprocess.Popen(
                [sys.executable, "-W", "ignore", "-m", module,
                 str(spec_path)], cwd=str(REPO), stdout=err, stderr=err,
                start_new_session=True)
            try:
                rc = self.child.wait(timeout=WORKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.findings.append("%s timed out after %d s" % (
                    name, WORKER_TIMEOUT))
                self.stop_child()
                rc = -1
            # On KeyboardInterrupt the child stays known: cleanup() stops it.
            self.child = None
        try:
            with open(spec["out"], encoding="utf-8") as f:
                out = json.load(f)
        except (OSError, ValueError):
            out = {}
        if rc != 0:
            tail = stderr_path.read_text(errors="replace").splitlines()[-5:]
            msg = "%s exited with %s: %s" % (name, rc, " | ".join(tail))
            log("bench: " + msg)
            self.findings.append(msg)
        return out

    def stop_child(self) -> None:
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        log("bench: stopping %s (pid %d)" % (" ".join(child.args[-2:]),
                                             child.pid))
        # The worker cleans up on SIGTERM; its process group (privsep
        # daemon included) is killed if it does not finish in time.
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()

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

    # -- the run ------------------------------------------------------------
    def image_prefix(self, rnd: int, contender: str) -> str:
        return "%s%s-%02x%02x-" % (IMAGE_MARK, self.run_id, rnd,
                                   CONTENDERS.index(contender))

    def round(self, rnd: int) -> None:
        common = {"env": self.env, "round": rnd,
                  "profile": self.profile.name,
                  "data_dir": self.args.data_dir}
        if not self.args.no_baselines:
            self.attempts("limits", rnd, "bench.baseline", dict(
                common, parts=["hashing", "device", "cinder"],
                name_prefix="%s%s-" % (BASELINE_MARK, self.run_id),
                workdir=str(self.workdir / "baseline")))
        workloads = [w for w in self.args.workloads
                     if w != "add_unknown_large"
                     or rnd < self.profile.large_rounds]
        for contender in self.args.contenders:
            self.attempts(contender, rnd, "bench.worker", dict(
                common, contender=contender, workloads=workloads,
                image_prefix=self.image_prefix(rnd, contender),
                workdir=str(self.workdir / contender)))

    def attempts(self, who: str, rnd: int, module: str,
                 spec: dict[str, Any], tries: int = 3) -> None:
        """Run one process; again (up to ``tries``) when the environment
        went away under it (someone restarted the services): such a
        failure is not the contender's and its timings are not kept."""
        for attempt in range(1, tries + 1):
            self.tidy()
            name = "round%d-%s" % (rnd, who) + (
                "-try%d" % attempt if attempt > 1 else "")
            out = self.spawn(module, dict(spec), name)
            self.tidy(after="%s round %d" % (who, rnd))
            samples = out.get("samples", [])
            troubled = any(s.get("outage") for s in samples) or (
                (not samples or any(not s["ok"] for s in samples))
                and not environment.cinder_answers(self.env))
            if not troubled:
                self.take(out, who)
                return
            log("  %-8s the environment went away during the run "
                "(attempt %d of %d); waiting for it, then again"
                % (who, attempt, tries))
            self.findings.append("%s round %d: environment outage, "
                                 "repeated" % (who, rnd))
            self.env, _ = environment.ensure(
                log, allow_start=not self.args.no_start)
        self.take(out, who)

    def profile_pass(self) -> None:
        if not have_module("pyinstrument", self.args.no_install):
            log("bench: no profile: pyinstrument is not available")
            return
        pdir = self.results / "profile"
        pdir.mkdir(parents=True, exist_ok=True)
        for old in pdir.glob("*"):
            old.unlink()
        workloads = [w for w in PROFILED if w in self.args.workloads]
        log("profiling (untimed): %s" % ", ".join(workloads))
        for contender in self.args.contenders:
            self.tidy()
            self.spawn("bench.worker", dict(
                env=self.env, round=99, profile=self.profile.name,
                data_dir=self.args.data_dir, contender=contender,
                workloads=workloads, profile_dir=str(pdir),
                image_prefix=self.image_prefix(99, contender),
                workdir=str(self.workdir / contender)),
                "profile-%s" % contender)
            self.tidy(after="%s profiling" % contender)
        log("bench: profiles in %s" % pdir)

    def take(self, out: dict[str, Any], who: str) -> None:
        got = out.get("samples", [])
        self.samples += got
        if out.get("info", {}).get("error"):
            self.findings.append("%s: %s" % (who, out["info"]["error"]))
        parts = []
        by: dict[str, list[dict[str, Any]]] = {}
        for s in got:
            by.setdefault(s["workload"], []).append(s)
        for w, ss in by.items():
            if all(s["ok"] for s in ss):
                secs = sorted(s["seconds"] for s in ss)
                parts.append("%s %.2fs" % (w, secs[len(secs) // 2]))
            else:
                parts.append("%s FAILED" % w)
        log("  %-8s %s" % (who, ", ".join(parts) or "(no samples)"))

    def main(self) -> int:
        t0 = time.monotonic()
        started = datetime.datetime.now(datetime.UTC)
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*"):
            old.unlink()
        load_start = _loadavg()
        if load_start[0] > 1.0:
            log("bench: load average %.2f before the start: other work on "
                "this machine will add noise to the timings" % load_start[0])
        env, env_start = environment.ensure(log,
                                            allow_start=not
                                            self.args.no_start)
        self.env = env
        self.admin = cleanup.admin_client(env)
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
        log("bench: %s profile, %d round(s), contenders %s" % (
            self.profile.name, self.rounds,
            " then ".join(self.args.contenders)))
        for rnd in range(self.rounds):
            log("round %d/%d (%.0f s elapsed)" % (rnd + 1, self.rounds,
                                                   time.monotonic() - t0))
            self.round(rnd)
        duration = time.monotonic() - t0
        if self.args.profile:
            self.profile_pass()
        if not self.rounds:
            return 0
        data_bytes = {"sparse_dense": data.data_bytes("sparse"),
                      "sparse_thin": data.data_bytes("sparse")}
        summary = report.summarize(self.samples, self.profile, data_bytes)
        run = {
            "profile": self.profile.name,
            "rounds": self.rounds,
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": duration,
            "env_start_s": env_start,
            "machine": report.machine(),
            "versions": report.versions(env),
            "volume_type": env["volume_types"]["fast"],
            "loadavg_start": load_start,
            "loadavg_end": _loadavg(),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
        }
        self.write(summary, run)
        return 0

    def write(self, summary: dict[str, Any], run: dict[str, Any]) -> None:
        self.results.mkdir(parents=True, exist_ok=True)
        log("")
        log(report.text_table(summary))
        log("")
        for line in report.limits_text(summary, self.profile):
            log("limit: " + line)
        for line in report.sparse_lines(summary):
            log("sparse: " + line)
        for line in report.target_lines(summary):
            log("target: " + line)
        for line in self.findings:
            log("finding: " + line)
        stem = "latest" if self.profile is FULL else "quick"
        doc = {"run": run, "summary": summary, "findings": self.findings,
               "samples": self.samples}
        write_json(self.results / ("%s.json" % stem), _finite(doc))
        png = self.results / ("%s.png" % stem)
        chart_note = make_chart(summary, str(png), run, self.args.no_install)
        md = report.markdown(summary, run, self.profile)
        if stem != "latest":
            md = md.replace("(latest.png)", "(%s.png)" % stem)
        if chart_note:
            md = md.replace("![ratios](%s.png)" % stem, chart_note)
        (self.results / ("%s.md" % stem)).write_text(md + "\n")
        log("")
        log("bench: results in %s/%s.{json,md%s} (%.1f min)" % (
            self.results, stem, "" if chart_note else ",png",
            run["duration_s"] / 60))

    def cleanup(self) -> None:
        self.stop_child()
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
        with contextlib.suppress(Exception):
            export = self.env.get("nfs", {}).get("export_dir")
            if export:
                for p in pathlib.Path(export).glob(
                        "%s%s-*.tmp" % (BASELINE_MARK, self.run_id)):
                    p.unlink()
        if not self.args.keep_data:
            shutil.rmtree(self.args.data_dir, ignore_errors=True)


def _loadavg() -> list[float]:
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return []


def _finite(obj: Any) -> Any:
    """JSON has no Infinity: write it as a string."""
    if isinstance(obj, float) and obj == float("inf"):
        return "inf"
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def have_module(name: str, no_install: bool) -> bool:
    """Import ``name``, pip-installing it first unless told not to."""
    import importlib
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        pass
    if no_install:
        log("bench: %s is not installed (--no-install)" % name)
        return False
    log("bench: installing %s (pip)" % name)
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install",
                               "--quiet", "--disable-pip-version-check",
                               name], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log("bench: pip install %s failed: %s" % (name, exc))
        return False
    if done.returncode != 0:
        log("bench: pip install %s failed: %s" % (
            name, (done.stderr or done.stdout).strip().splitlines()[-1:]))
        return False
    importlib.invalidate_caches()
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def make_chart(summary: dict[str, Any], path: str, run: dict[str, Any],
               no_install: bool) -> str | None:
    """Draw the chart; None when done, else why not (for the Markdown)."""
    if not have_module("matplotlib", no_install):
        why = "matplotlib is not available; pip install matplotlib"
        log("bench: no chart: " + why)
        return "(no chart: %s)" % why
    title = "glance_store_cinder vs in-tree cinder driver (%s, %d " \
        "round(s), %d CPUs)" % (run["profile"], run["rounds"],
                                run["machine"]["nproc"])
    try:
        report.chart(summary, path, title)
    except Exception as exc:
        log("bench: no chart: %s" % exc)
        return "(no chart: %s)" % exc
    return None


def rewrite(args: argparse.Namespace) -> int:
    """Summarize a saved run again (after a change of the report)."""
    with open(args.from_json, encoding="utf-8") as f:
        doc = json.load(f)
    run = Run.__new__(Run)
    run.args = args
    run.profile = QUICK if doc["run"]["profile"] == "quick" else FULL
    run.results = pathlib.Path(args.from_json).parent
    run.findings = doc.get("findings", [])
    run.samples = doc["samples"]
    data = DataSet(args.data_dir, run.profile)
    nbytes = sum(n for _, n in sparse_layout(run.profile.sparse))
    del data
    summary = report.summarize(run.samples, run.profile,
                               {"sparse_dense": nbytes,
                                "sparse_thin": nbytes})
    run.write(summary, doc["run"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        return rewrite(args)
    if os.geteuid() != 0:
        log("bench: must run as root (page cache drops, mounts, "
            "privsep)")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    # Also when started in the background by a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, _on_signal)
    run = Run(args)
    try:
        return run.main()
    except KeyboardInterrupt:
        log("bench: interrupted; cleaning up")
        return 130
    finally:
        run.cleanup()
