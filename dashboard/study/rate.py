"""Volunteer page: consent -> anonymous code -> one trial per screen -> thank you with a completion code.

Only opaque image tokens live in the session; the browser receives re-encoded PNG bytes, every image of a screen
at one size, and the letters A, B, ... The participant code lives in the session only (never in the address,
so sharing a link shares nothing); a volunteer continues later by typing it. New sessions are limited per
client address. A screen whose image cannot be shown is skipped with a neutral message (the admin page lists
the image), and an unexpected error shows Streamlit's generic message only: no path, file or method name on
any error path.
"""

import os

import streamlit as st

from cfkit.errors import InputError
from cfkit.study import volunteer as v
from cfkit.study.config import ENV_DB, ENV_STUDY, LIKERT_LEVELS, StudyConfig
from cfkit.study.db import open_db
from cfkit.study.ratelimit import NEW_SESSIONS
from cfkit.study.stimuli import BrokenStimulus, trial_pngs

st.set_option("client.showErrorDetails", "none")  # also passed by `cfkit study serve`; first, before any error
STUDY = os.environ.get(ENV_STUDY, "study")
db = open_db(os.environ[ENV_DB], create=False)
with db.read() as s:
    _, cfg = v.load_study(s, STUDY)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SCALE = {"likert": "1 = very poor, 5 = excellent", "rank": "1 = best", "pairwise": "pick one"}

st.markdown(
    "<style>.block-container{max-width:1100px;padding-top:2.5rem}"
    " div[role=radiogroup]{flex-wrap:nowrap;gap:0 .15rem} div[role=radiogroup] label{margin-right:.35rem}"
    " .cf-label{text-align:center;font-weight:700;font-size:1.15rem;margin-bottom:.25rem}"
    " .cf-label.src{color:#1f6feb}</style>",
    unsafe_allow_html=True,
)


@st.cache_data(max_entries=256, show_spinner=False)
def pngs(tokens: tuple[str, ...]) -> list[bytes]:
    return trial_pngs(db, tokens)


def client() -> str:
    ip = st.context.ip_address
    return ip if isinstance(ip, str) else "localhost"  # None when served to localhost


def start() -> None:
    if not NEW_SESSIONS.allow(client()):
        st.session_state["flash"] = "Too many new sessions from your connection; please try again in a few minutes."
        return
    try:
        st.session_state["code"] = v.start_participant(db, STUDY)
    except v.StudyFull as e:
        st.session_state["flash"] = str(e)


def resume(code: str) -> None:
    if v.find_participant(db, STUDY, code) is None:
        st.session_state["flash"] = "We could not find that code; check it or start a new session."
    else:
        st.session_state["code"] = v.normalize_code(code)


def on_submit(trial: v.TrialView, config: StudyConfig) -> None:
    answers = {}
    for c in trial.criteria:
        if config.response_format == "pairwise":
            pick = st.session_state.get(f"t{trial.trial_id}:{c}")
            if pick is not None:
                answers[c] = trial.outputs[LETTERS.index(pick)]
            continue
        vals = {o: st.session_state.get(f"t{trial.trial_id}:{c}:{j}") for j, o in enumerate(trial.outputs)}
        if all(x is not None for x in vals.values()):
            answers[c] = vals
    try:
        v.submit(db, STUDY, st.session_state["code"], trial.trial_id, answers)
    except InputError as e:
        st.session_state["flash"] = str(e)


def welcome() -> None:
    st.title("Rate cartoon ↔ photo face translations")
    st.write(cfg.instructions)
    st.markdown(
        "- Each screen shows a **source face** and the results made from it, labelled A, B, ...\n"
        f"- Answer every question ({SCALE[cfg.response_format]}), then press **Next**.\n"
        "- Your answers are anonymous: we store only a random participant code, your answers and their times.\n"
        "- You can stop at any time and continue later with your participant code."
    )
    agree = st.checkbox("I have read the above and agree to take part.", key="consent")
    st.button("Start", type="primary", disabled=not agree, on_click=start)
    with st.expander("Continue with a participant code"):
        with st.form("resume"):
            code = st.text_input("Participant code", placeholder="ABCD-EFGH")
            if st.form_submit_button("Continue"):
                resume(code)
                st.rerun()


def stimuli(trial: v.TrialView) -> list[bytes] | None:
    """PNG bytes of the source and outputs; None (the screen skipped, a neutral note queued) if one is broken."""
    try:
        return pngs((trial.source, *trial.outputs))
    except BrokenStimulus as e:
        v.skip_trial(db, STUDY, st.session_state["code"], trial.trial_id)
        st.session_state["flash"] = str(e)
        return None


def trial_screen(trial: v.TrialView, images: list[bytes]) -> None:
    st.progress(trial.index / trial.total, text=f"Screen {trial.index + 1} of {trial.total}")
    n = len(trial.outputs)
    widths = [1] * (n + 1)
    cols = st.columns(widths, gap="medium")
    cols[0].html("<div class='cf-label src'>Source</div>")
    cols[0].image(images[0], width="stretch")
    for j in range(n):
        cols[j + 1].html(f"<div class='cf-label'>{LETTERS[j]}</div>")
        cols[j + 1].image(images[j + 1], width="stretch")
    with st.form(f"trial-{trial.trial_id}", border=False):
        for c in trial.criteria:
            st.markdown(
                f"**{cfg.question(c)}** <span style='color:#777'>({SCALE[cfg.response_format]})</span>",
                unsafe_allow_html=True,
            )
            if cfg.response_format == "pairwise":
                st.radio(
                    c,
                    [LETTERS[j] for j in range(n)],
                    index=None,
                    horizontal=True,
                    key=f"t{trial.trial_id}:{c}",
                    label_visibility="collapsed",
                )
                continue
            options = list(LIKERT_LEVELS) if cfg.response_format == "likert" else list(range(1, n + 1))
            row = st.columns(widths, gap="medium")
            for j in range(n):
                row[j + 1].radio(
                    f"{c} {LETTERS[j]}",
                    options,
                    index=None,
                    horizontal=True,
                    key=f"t{trial.trial_id}:{c}:{j}",
                    label_visibility="collapsed",
                )
        st.form_submit_button("Next →", type="primary", on_click=on_submit, args=(trial, cfg))


def done() -> None:
    st.title("Thank you!")
    st.success("All your answers are saved. You can close this page.")
    st.write("Your completion code:")
    st.code(v.completion_code(db, STUDY, st.session_state["code"]) or "", language=None)


if "code" in st.query_params:
    del st.query_params["code"]  # an old link's code is not used, and must not linger in the address bar
if msg := st.session_state.pop("flash", None):
    st.warning(msg)
if "code" not in st.session_state:
    welcome()
else:
    try:
        current = v.current_trial(db, STUDY, st.session_state["code"])
    except InputError:  # a code from another study or database: start over
        del st.session_state["code"]
        st.rerun()
    st.caption(f"Participant code: **{st.session_state['code']}** (note it to continue later)")
    if current is None:
        done()
    elif (images := stimuli(current)) is None:
        st.rerun()
    else:
        trial_screen(current, images)
