"""``cfkit bench``: two methods end to end on a tiny known-answer task, killed at known points and resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cfkit.imageio import save_png


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> Path:
    """A known-answer task (``build_task``) at 32 px from 10 crops of scikit-image's astronaut: 4 held out."""
    from skimage import data

    from cfkit.evaluate.known_answer import build_task

    root = tmp_path_factory.mktemp("bench-task")
    img = data.astronaut()
    photos = []
    for k in range(10):
        y, x = 10 + 25 * k, 20 + 30 * k
        photos.append(root / "photos" / f"p{k}.png")
        save_png(photos[-1], img[y : y + 128, x : x + 128])
    return build_task(photos, root / "task", size=32, n_test=4).a.parent


def options(task: Path, out: Path) -> dict:
    return {
        "data_a": str(task / "A"),
        "data_b": str(task / "B"),
        "methods": ["cyclegan", "nst"],
        "iters": 4,
        "size": 32,
        "width": 0.25,
        "out": str(out),
        "train": {"batch": 2, "ckpt_every": 2, "log_every": 1, "sample_every": 100},
        "methods_set": {"nst": {"method": {"steps": 2}, "substitute": {"vgg19": "vgg16"}}},  # no VGG19 offline
        "eval": {
            "targets": str(task / "targets"),
            "metrics": ["l1_target", "lpips_target", "lpips"],
            "bootstrap": 50,
            "workers": 0,
        },
        "study": {"name": "ka", "n_sources": 4, "ratings_per_item": 1},
    }


class Killed(BaseException):
    """What a kill looks like to the code that was running (not caught by ``except Exception``)."""


@pytest.mark.slow
def test_bench_runs_two_methods_and_resumes_after_kills(task, tmp_path, monkeypatch, asset, run_cli):
    import cfkit.evaluate.api
    import cfkit.study.design
    import cfkit.train
    from cfkit.bench import run_bench
    from cfkit.train.trainer import Trainer

    asset("vgg16")  # nst's network offline
    asset("alexnet")  # LPIPS
    out = tmp_path / "bench"
    calls: dict[str, list[str]] = {"train": [], "translate": [], "eval": [], "study": []}

    def spy(key, fn):
        def wrapped(*a, **kw):
            calls[key].append(str(a[0]) if a else "")
            return fn(*a, **kw)

        return wrapped

    monkeypatch.setattr(cfkit.train, "train", spy("train", cfkit.train.train))
    monkeypatch.setattr(cfkit.train, "translate", spy("translate", cfkit.train.translate))
    monkeypatch.setattr(cfkit.evaluate.api, "run_eval", spy("eval", cfkit.evaluate.api.run_eval))
    monkeypatch.setattr(cfkit.study.design, "create_study", spy("study", cfkit.study.design.create_study))

    # 1: killed inside cyclegan's training, just after its checkpoint at step 2 of 4
    checkpoint = Trainer.checkpoint

    def killed_at_2(self):
        checkpoint(self)
        if self.step == 2:
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(Trainer, "checkpoint", killed_at_2)
        with pytest.raises(Killed):
            run_bench(**options(task, out))
    assert json.loads((out / "bench.json").read_text())["steps"] == {}
    assert (out / "runs" / "cyclegan" / "ckpt").is_dir()

    # 2: killed inside nst's translation (cyclegan done, nst trained)
    translate = cfkit.train.translate

    def killed_in_nst(run, *a, **kw):
        if Path(run).name == "nst":
            raise Killed
        return translate(run, *a, **kw)

    with monkeypatch.context() as m:
        m.setattr(cfkit.train, "translate", killed_in_nst)
        with pytest.raises(Killed):
            run_bench(**options(task, out))
    steps = json.loads((out / "bench.json").read_text())["steps"]
    assert set(steps) == {"cyclegan/train", "cyclegan/translate", "nst/train"}
    assert steps["cyclegan/train"]["resumed"] is True and steps["cyclegan/train"]["iters"] == 4
    assert steps["nst/train"]["resumed"] is False
    cyclegan_outputs = {p.name: p.stat().st_mtime_ns for p in (out / "results" / "cyclegan").glob("*.png")}
    assert len(cyclegan_outputs) == 4  # the 4 held-out photos

    # 3: the command, given the same options as a protocol file, continues with nst's translation;
    # nothing finished is done again
    calls = {k: [] for k in calls}
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(yaml.safe_dump(options(task, out)))
    code, stdout, err = run_cli("bench", "--protocol", protocol)
    assert code == 0, stdout + err
    doc = json.loads((out / "bench.json").read_text())
    assert calls["train"] == [] and [Path(r).name for r in calls["translate"]] == ["nst"]
    assert len(calls["eval"]) == len(calls["study"]) == 1
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results" / "cyclegan").glob("*.png")} == cyclegan_outputs

    assert doc["status"] == "finished"
    assert set(doc["steps"]) == {f"{m}/{s}" for m in ("cyclegan", "nst") for s in ("train", "translate")} | {
        "eval",
        "study",
    }
    assert all(s["seconds"] > 0 for s in doc["steps"].values())
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["source"]["n"] == 4 and {m["n"] for m in metrics["methods"].values()} == {4}
    assert metrics["targets"]["n"] == 4 and not metrics["targets"]["missing"]
    assert set(doc["leaderboard"]) == {"cyclegan", "nst", "copy_input"}
    assert doc["leaderboard"]["nst"]["l1_target"]["value"] == metrics["metrics"]["nst"]["l1_target"]["value"]
    assert all((out / "eval" / f).is_file() for f in ("report.md", "report.tex", "figure.png", "figure.pdf"))
    pairs = {(c["metric"], c["a"], c["b"]) for c in metrics["comparisons"]}
    assert ("lpips_target", "cyclegan", "nst") in pairs or ("lpips_target", "nst", "cyclegan") in pairs
    study = (out / "study" / "ka" / "study.yaml").read_text()
    assert "cyclegan" in study and "nst" in study
    lines = stdout.splitlines()
    summary = lines[lines.index("wall seconds per step:") + 1 :]
    assert [line.split()[0] for line in summary] == ["cyclegan", "nst", "evaluate", "study"]
    assert f"translate {doc['steps']['nst/translate']['seconds']:.1f} s" in summary[1]
    assert "copy the input" in stdout + err  # the leaderboard table, with its baseline row
    assert f"study: {out}/study/ka/study.yaml" in stdout

    # 4: a finished bench reruns nothing; other options in the same folder are refused in one line
    calls = {k: [] for k in calls}
    run_bench(**options(task, out))
    assert not any(calls.values())
    from cfkit.errors import InputError

    with pytest.raises(InputError, match=r"other options \(iters\)"):
        run_bench(**{**options(task, out), "iters": 5})
    with pytest.raises(InputError, match=r"other options \(train.batch\)"):
        run_bench(**{**options(task, out), "train": {**options(task, out)["train"], "batch": 1}})
    # other evaluation options: only the evaluation is done again (and the study of the same methods kept)
    run_bench(**{**options(task, out), "eval": {**options(task, out)["eval"], "bootstrap": 60}})
    assert calls["train"] == calls["translate"] == calls["study"] == [] and len(calls["eval"]) == 1
    assert json.loads((out / "eval" / "metrics.json").read_text())["config"]["bootstrap"] == 60

    # 5: a method dropped: nothing is trained or translated, the evaluation is redone, the study of the same
    # name refused (it shows other methods), then created under a new name beside the first
    one = {**options(task, out), "methods": ["cyclegan"], "methods_set": {}}
    calls = {k: [] for k in calls}
    with pytest.raises(InputError, match="study 'ka' .* shows cyclegan, nst"):
        run_bench(**one)
    doc = run_bench(**{**one, "study": {**one["study"], "name": "ka-cyclegan"}})
    assert calls["train"] == calls["translate"] == [] and len(calls["eval"]) == len(calls["study"]) == 1
    assert set(doc["leaderboard"]) == {"cyclegan", "copy_input"} and doc["status"] == "finished"
    assert (out / "study" / "ka-cyclegan" / "study.yaml").is_file() and (out / "study" / "ka" / "study.yaml").is_file()


def test_bench_refuses_what_it_cannot_rank(task, tmp_path, run_cli):
    base = ["bench", "--data-a", task / "A", "--data-b", task / "B", "--out", tmp_path / "b"]
    cases = [
        (["--methods", "cyclegan"], "give one budget"),
        (
            ["--methods", "cpgan", "--iters", "2"],
            "cpgan translates cartoon -> photo; this bench ranks photo -> cartoon",
        ),
        (["--methods", "cartoongan", "--iters", "2", "--set", "direction=cartoon -> photo"], "cartoongan translates"),
        (["--methods", "cyclegan", "--iters", "2", "--seconds", "5"], "give one budget"),
        (["--methods", "cyclegan", "--seconds", "0"], "--seconds must be positive"),
        (["--methods", "landmark-regressor", "--iters", "2"], "trains on one domain"),
        (["--methods", "cyclegan", "--iters", "2", "--set", "train.iters=3"], "train: iters are set by the bench"),
        (["--methods", "cyclegan", "--iters", "2", "--set", "eval.bogus=1"], "unknown option(s) bogus"),
    ]
    for args, message in cases:
        code, out, err = run_cli(*base, *args)
        assert code != 0 and message in out + err, (args, out + err)
        assert "Traceback" not in out + err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code, out, err = run_cli(
        "bench",
        "--protocol",
        "known-answer",
        "--methods",
        "cyclegan",
        "--iters",
        "2",
        "--data-a",
        task / "A",
        "--data-b",
        task / "B",
        "--out",
        tmp_path / "mine",
    )
    assert code != 0 and "not empty" in out + err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_a_rerun_names_the_options_that_changed():
    from cfkit.bench.ledger import changed_keys

    old = {"iters": 4, "train": {"batch": 2, "ema": None}, "eval": {"bootstrap": 50}}
    new = {"iters": 4, "train": {"batch": 4, "ema": None, "amp": "off"}, "eval": {"bootstrap": 60}, "newer": 1}
    assert changed_keys(old, new, ("train",)) == ["eval", "train.batch"]  # another version's keys: not compared
    assert changed_keys(old, new, ("train",), free=("eval",)) == ["train.batch"]
    assert changed_keys(old, old, ("train",)) == []


def test_shipped_protocols_load_and_name_rankable_methods():
    from cfkit.bench.api import check_options
    from cfkit.bench.config import BenchOptions, protocol_layer
    from cfkit.options import command_options
    from cfkit.resources import resource_dir

    protocols = sorted((resource_dir("pipelines") / "bench").glob("*.yaml"))
    assert {p.stem for p in protocols} >= {"photo2anime", "known-answer", "known-answer-reverse"}
    for p in protocols:
        opts = command_options(BenchOptions, protocol_layer(p.stem), flags={"iters": 10})
        check_options(opts)  # methods registered, of the protocol's direction (or two-way), one budget
        assert opts.data_a.startswith("data/") and opts.data_b.startswith("data/")
        assert opts.study.name == p.stem


def test_a_reverse_bench_takes_cartoon_to_photo_and_two_way_methods():
    from cfkit.bench.api import check_options
    from cfkit.bench.config import BenchOptions

    opts = BenchOptions(data_a="a", data_b="b", iters=2, direction="cartoon -> photo", methods=["cpgan", "cyclegan"])
    check_options(opts)  # cpgan's own direction; cyclegan is reversible, trained with A as its input
    check_options(BenchOptions(data_a="a", data_b="b", iters=2, methods=["landmark-cyclegan", "whitebox"]))


def test_a_wall_time_budget_weights_each_phase_by_its_share():
    from cfkit.bench.budget import iterations_for
    from cfkit.train.method import Phase

    plan = [(Phase("init", 1, ("g",)), 250), (Phase("adversarial", 3, ("d", "g")), 750)]
    # mean cost 0.25 * 0.1 + 0.75 * 0.5 = 0.4 s per iteration: 100 s buy 250 iterations
    assert iterations_for(100.0, plan, [0.1, 0.5]) == 250
    assert iterations_for(0.01, plan, [0.1, 0.5]) == 2  # at least one iteration per phase


@pytest.mark.slow
def test_a_wall_time_budget_is_timed_once_and_trains_that_many_iterations(task, tmp_path, monkeypatch, asset):
    import cfkit.bench.budget
    from cfkit.bench import run_bench

    asset("alexnet")
    probes = []
    probe = cfkit.bench.budget.probe
    monkeypatch.setattr(cfkit.bench.budget, "probe", lambda *a, **kw: probes.append(a[0]) or probe(*a, **kw))
    opts = {**options(task, tmp_path / "b"), "methods": ["cyclegan"], "methods_set": {}, "iters": None}
    opts["seconds"] = 3.0
    doc = run_bench(**opts)
    timed = doc["steps"]["cyclegan/budget"]
    cost = timed["s_per_iter"]["cyclegan"]
    assert probes == ["cyclegan"] and timed["iters"] == max(1, int(3.0 / cost))
    run = json.loads((tmp_path / "b" / "runs" / "cyclegan" / "run.json").read_text())
    assert run["total"] == timed["iters"] == doc["steps"]["cyclegan/train"]["iters"]
    assert not (tmp_path / "b" / "probe").exists()
    run_bench(**opts)  # finished: nothing is timed or trained again
    assert probes == ["cyclegan"]
