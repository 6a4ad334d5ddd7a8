"""Streamlit flows with streamlit.testing.v1.AppTest: consent -> trials -> thank you, resume, validation, admin gate."""

import re

import pytest
from streamlit.testing.v1 import AppTest

from cfkit.errors import InputError
from cfkit.resources import resource_dir
from cfkit.study import volunteer as v
from cfkit.study.db import open_db
from cfkit.study.design import create_study
from cfkit.study.export import ratings_frame
from cfkit.study.stimuli import stimulus_problems
from cfkit.study.webauth import token_ok

PAGES = resource_dir("dashboard") / "study"
TOKEN = "s3cret-token"


@pytest.fixture
def study_env(folders, tmp_path, monkeypatch):
    src, out = folders
    db = tmp_path / "app.db"
    create_study(
        db=db,
        out=tmp_path / "s",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name="app",
        n_sources=2,
        ratings_per_item=10,
        attention_duplicates=1,
        attention_broken=0,
    )
    monkeypatch.setenv("CFKIT_STUDY_DB", str(db))
    monkeypatch.setenv("CFKIT_STUDY", "app")
    monkeypatch.setenv("CFKIT_ADMIN_TOKEN", TOKEN)
    return open_db(db)


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / name), default_timeout=60)


def media_urls(at: AppTest) -> list[str]:
    """The URLs of every image on the page (what "open image in new tab" shows)."""

    def walk(node):
        for child in getattr(node, "children", {}).values():
            yield child
            yield from walk(child)

    return [img.url for e in walk(at.main) if getattr(e, "type", "") == "image" for img in e.proto.imgs]


def answer_all(at: AppTest, value=3) -> None:
    for r in at.radio:
        r.set_value(value)


def test_volunteer_flow_consent_trials_thanks(study_env):
    at = page("rate.py").run()
    assert not at.exception
    start = next(b for b in at.button if b.label == "Start")
    assert start.disabled  # consent first
    at.checkbox(key="consent").check().run()
    next(b for b in at.button if b.label == "Start").click().run()
    code = at.session_state["code"]
    assert "code" not in at.query_params  # before: ?code= in the address, so sharing the link shared the session
    page_text = " ".join(str(e.value) for e in (*at.markdown, *at.caption)) + " ".join(media_urls(at))
    for secret in ("blurry", "poster", "sharp", "face0", ".png", str(study_env.url)):
        assert secret not in page_text
    assert len(media_urls(at)) == 4 and all(re.fullmatch(r"(/mock)?/media/[0-9a-f]+\.\w+", u) for u in media_urls(at))
    n = 0
    while at.get("progress"):
        assert len(at.radio) == 3 * 3  # 3 criteria x 3 outputs
        answer_all(at, 4)
        next(b for b in at.button if "Next" in b.label).click().run()
        assert not at.exception
        n += 1
    assert n == 3 and "Thank you!" in [t.value for t in at.title]
    assert at.code[0].value == v.completion_code(study_env, "app", code)
    assert set(ratings_frame(study_env, "app")["value"]) == {4.0}


def test_incomplete_answer_warns_and_stores_nothing(study_env):
    at = page("rate.py").run()
    at.checkbox(key="consent").check().run()
    next(b for b in at.button if b.label == "Start").click().run()
    at.radio[0].set_value(2)
    next(b for b in at.button if "Next" in b.label).click().run()
    assert any("please answer" in w.value for w in at.warning)
    assert ratings_frame(study_env, "app").empty
    assert "Screen 1 of 3" in at.get("progress")[0].proto.text


def test_resume_with_code_continues_where_left(study_env):
    code = v.start_participant(study_env, "app")
    t = v.current_trial(study_env, "app", code)
    v.submit(study_env, "app", code, t.trial_id, {c: {o: 5 for o in t.outputs} for c in t.criteria})
    link = page("rate.py")
    link.query_params["code"] = code  # an old link with the code in it: not used, and removed from the address
    link.run()
    assert "code" not in link.session_state and "code" not in link.query_params and not link.get("progress")
    fresh = page("rate.py").run()  # typed (sloppily) into the resume form
    fresh.text_input[0].input(code.lower().replace("-", " "))
    next(b for b in fresh.button if b.label == "Continue").click().run()
    assert fresh.session_state["code"] == code and "Screen 2 of 3" in fresh.get("progress")[0].proto.text
    bad = page("rate.py").run()
    bad.text_input[0].input("ZZZZ-ZZZZ")
    next(b for b in bad.button if b.label == "Continue").click().run()
    assert "code" not in bad.session_state and any("could not find" in w.value for w in bad.warning)


def test_token_compare():
    assert token_ok("abc", "abc") and not token_ok("abd", "abc") and not token_ok("", "") and not token_ok("x", None)


@pytest.mark.parametrize("name", ["admin.py", "metrics.py"])
def test_admin_pages_refuse_missing_or_wrong_token(study_env, name, monkeypatch):
    at = page(name).run()
    assert not at.metric and not at.dataframe  # nothing shown before the token
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("Wrong token" in e.value for e in at.error) and not at.dataframe
    monkeypatch.delenv("CFKIT_ADMIN_TOKEN")
    off = page(name).run()
    assert any("disabled" in e.value for e in off.error) and not off.text_input


def test_admin_page_shows_progress_and_analysis(study_env, folders, tmp_path, write_eval):

    for _ in range(3):
        code = v.start_participant(study_env, "app")
        while (t := v.current_trial(study_env, "app", code)) is not None:
            v.submit(study_env, "app", code, t.trial_id, {c: {o: 3 for o in t.outputs} for c in t.criteria})
    at = page("admin.py").run()
    at.text_input[0].input(TOKEN)
    at.button[0].click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Volunteers"] == "3" and metrics["Completed"] == "3" and metrics["Ratings collected"] == "6 / 20"
    assert any("| blurry |" in m.value for m in at.markdown)
    src, out = folders
    ev = write_eval(
        tmp_path / "ev", src, out, {m: {"fid": f} for m, f in [("blurry", 30.0), ("poster", 20.0), ("sharp", 10.0)]}
    )
    mx = page("metrics.py")
    mx.session_state["admin_token"] = TOKEN
    mx.run()
    mx.text_input[0].input(str(ev)).run()
    assert not mx.exception and len(mx.dataframe) == 2  # per-method table + rank agreement


@pytest.mark.parametrize("fmt", ["rank", "pairwise"])
def test_rank_and_pairwise_screens(folders, tmp_path, monkeypatch, fmt):
    src, out = folders
    db = tmp_path / f"{fmt}.db"
    create_study(
        db=db,
        out=tmp_path / fmt,
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name=fmt,
        n_sources=1,
        response_format=fmt,
        criteria=["realism", "overall"],
        attention_duplicates=0,
        attention_broken=0,
    )
    monkeypatch.setenv("CFKIT_STUDY_DB", str(db))
    monkeypatch.setenv("CFKIT_STUDY", fmt)
    at = page("rate.py").run()
    at.checkbox(key="consent").check().run()
    next(b for b in at.button if b.label == "Start").click().run()
    while at.get("progress"):
        if fmt == "rank":  # 2 criteria x 3 outputs, ranks 1..3 each
            assert len(at.radio) == 6
            for k, r in enumerate(at.radio):
                r.set_value(k % 3 + 1)
        else:  # 2 criteria, choose A or B
            assert len(at.radio) == 2 and at.radio[0].options == ["A", "B"]
            for r in at.radio:
                r.set_value("B")
        next(b for b in at.button if "Next" in b.label).click().run()
        assert not at.exception and not at.warning
    assert "Thank you!" in [t.value for t in at.title]
    df = ratings_frame(open_db(db), fmt)
    if fmt == "rank":
        assert sorted(df.groupby(["trial", "criterion"])["value"].apply(sorted).iloc[0]) == [1.0, 2.0, 3.0]
    else:
        assert len(df) == 3 * 2 * 2 and (df.groupby(["trial", "criterion"])["value"].sum() == 1).all()


def test_hostile_inputs_are_data_not_sql(study_env):
    evil = "x'); DROP TABLE responses; --"
    assert v.find_participant(study_env, "app", evil) is None
    assert v.find_participant(study_env, evil, "ABCD-EFGH") is None
    with pytest.raises(InputError):
        v.current_trial(study_env, "app", evil)
    code = v.start_participant(study_env, "app")
    t = v.current_trial(study_env, "app", code)
    with pytest.raises(InputError):
        v.submit(study_env, "app", code, t.trial_id, {evil: {o: 1 for o in t.outputs}})
    assert ratings_frame(study_env, "app").empty  # table still there, nothing stored


def visible_text(at: AppTest) -> str:
    """Everything a volunteer can read on the page, errors included."""
    parts = [str(getattr(e, "value", "")) for e in (*at.markdown, *at.caption, *at.warning, *at.info, *at.error)]
    parts += [f"{e.message} {e.stack_trace} {getattr(e, 'proto', '')}" for e in at.exception]
    return " ".join(parts)


def test_broken_method_output_is_skipped_with_a_neutral_message(study_env, folders):
    """A corrupted method output: neutral note, screen skipped, the admin told which file; nothing leaks."""
    from sqlalchemy import select

    from cfkit.study.schema import Image, StudyMethod, Trial

    with study_env.read() as s:
        path, token = s.execute(
            select(Image.path, Image.token)
            .join(StudyMethod, StudyMethod.id == Image.method_id)
            .where(StudyMethod.name == "poster")
            .order_by(Image.id)
        ).first()
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 3])  # truncated PNG
    at = page("rate.py").run()
    at.checkbox(key="consent").check().run()
    next(b for b in at.button if b.label == "Start").click().run()
    code, seen, notes = at.session_state["code"], [], 0
    for _ in range(10):
        text = visible_text(at)
        assert not at.exception, text  # before the fix: the decode error, with the method's folder in its path
        seen.append(text)
        notes += "could not be shown, so we skipped it" in text
        if not at.get("progress"):
            break
        answer_all(at, 4)
        next(b for b in at.button if "Next" in b.label).click().run()
    assert not at.exception and "Thank you!" in [t.value for t in at.title]
    assert v.completion_code(study_env, "app", code)
    page_text = " ".join(seen)
    for secret in ("poster", "blurry", "sharp", ".png", str(folders[0].parent), "Error"):
        assert secret not in page_text, secret
    with study_env.read() as s:
        kinds = [k for (k,) in s.execute(select(Trial.kind).order_by(Trial.seq))]
    assert notes >= 1 and "skipped" in kinds  # the broken screen was skipped, not stuck on every reload
    problems = stimulus_problems(study_env, "app")
    assert [(p["method"], p["path"]) for p in problems] == [("poster", path)]  # the admin is told
    # a later volunteer never meets the broken image: its item is no longer handed out
    later = v.start_participant(study_env, "app")
    while (t := v.current_trial(study_env, "app", later)) is not None:
        assert token not in t.outputs
        v.submit(study_env, "app", later, t.trial_id, {c: {o: 3 for o in t.outputs} for c in t.criteria})


def test_unexpected_error_shows_no_details(study_env, monkeypatch):
    """Any uncaught error on the volunteer page is redacted (client.showErrorDetails = none)."""

    def boom(*a, **k):
        raise RuntimeError("cannot open /srv/study/results/poster/face000.png")

    at = page("rate.py").run()
    at.checkbox(key="consent").check().run()
    monkeypatch.setattr(v, "current_trial", boom)
    next(b for b in at.button if b.label == "Start").click().run()
    assert at.exception  # the error happened ...
    text = visible_text(at)
    for secret in ("poster", "face000", "/srv", "RuntimeError"):
        assert secret not in text, secret  # ... and nothing of it reached the browser
    from cfkit.study.serve import serve_command

    argv, _ = serve_command(str(study_env.url), "app")
    assert argv[argv.index("--client.showErrorDetails") + 1] == "none"  # the served app, every page


def test_new_sessions_are_limited_per_client(study_env, monkeypatch):
    from cfkit.study.ratelimit import NEW_SESSIONS

    monkeypatch.setattr(NEW_SESSIONS, "limit", 2)
    codes = []
    for _ in range(3):
        at = page("rate.py").run()
        at.checkbox(key="consent").check().run()
        next(b for b in at.button if b.label == "Start").click().run()
        codes.append(at.session_state["code"] if "code" in at.session_state else None)
    assert codes[0] and codes[1] and codes[2] is None
    assert any("Too many new sessions" in w.value for w in at.warning)
    with study_env.read() as s:
        from sqlalchemy import func, select

        from cfkit.study.schema import Participant

        assert s.scalar(select(func.count()).select_from(Participant)) == 2
