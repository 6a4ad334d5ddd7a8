"""Admin page (token required): live progress, attention checks, analysis, exports."""

import io
import os

import streamlit as st

from cfkit.errors import InputError
from cfkit.study.analysis import analyze
from cfkit.study.config import ENV_DB, ENV_STUDY
from cfkit.study.db import open_db
from cfkit.study.export import progress, ratings_frame
from cfkit.study.stimuli import clear_problems, stimulus_problems
from cfkit.study.webauth import require_admin

STUDY = os.environ.get(ENV_STUDY, "study")


def num(x: float, spec: str = ".3f") -> str:
    return "n/a" if x != x else format(x, spec)  # NaN: too few data for the statistic


st.title(f"Study admin: {STUDY}")
if not require_admin():
    st.stop()
db = open_db(os.environ[ENV_DB], create=False)
live = st.toggle("Live progress (refreshes every 15 s)", value=True)


@st.fragment(run_every=15 if live else None)
def show_progress() -> None:
    prog = progress(db, STUDY)
    items, people = prog["items"], prog["participants"]
    c = st.columns(4)
    c[0].metric("Volunteers", len(people))
    c[1].metric("Completed", int(people["completed"].notna().sum()) if len(people) else 0)
    c[2].metric("Ratings collected", f"{int(items['ratings'].sum())} / {int(items['quota'].sum())}")
    c[3].metric("Attention failures", int(people["attention_failures"].sum()) if len(people) else 0)
    st.subheader("Ratings per item")
    st.bar_chart(items.set_index("item")["ratings"], height=220)
    st.subheader("Volunteers")
    st.dataframe(people, hide_index=True, width="stretch")
    if len(people) and people["completed"].notna().any():
        st.caption(f"Median completion time: {people.loc[people['completed'].notna(), 'minutes'].median():.1f} min")


show_progress()


def clear(only_readable: bool) -> None:
    n = clear_problems(db, STUDY, only_readable)
    st.session_state["cleared"] = f"{n} image(s) readable again" if only_readable else f"{n} record(s) cleared"


if note := st.session_state.pop("cleared", None):
    st.info(note)
if problems := stimulus_problems(db, STUDY):
    st.subheader("Images that could not be shown (their screens are skipped)")
    st.dataframe(problems, hide_index=True, width="stretch")
    st.caption("Re-checked every minute as volunteers arrive; restore or fix the files, then re-check here.")
    b = st.columns(2)
    b[0].button("Re-check these images", on_click=clear, args=(True,))
    b[1].button("Clear all (show them to volunteers again)", on_click=clear, args=(False,))

st.subheader("Analysis")
exclude = st.checkbox("Exclude volunteers who failed an attention check")
try:
    res = analyze(db, STUDY, exclude_failed=exclude, n_boot=1000)
except InputError as e:
    st.info(str(e))
    st.stop()
st.markdown(res["table"])
for crit, t in res["tests"].items():
    alphas = ", ".join(f"{k.removeprefix('alpha_')} {num(v)}" for k, v in res["agreement"][crit].items())
    st.markdown(
        f"**{crit}**: Friedman χ² = {num(t['friedman_chi2'])}, p = {num(t['friedman_p'], '.4g')} "
        f"({t['n_blocks']} sources); Krippendorff's α: {alphas}"
    )
    if t["pairwise"]:
        st.dataframe(t["pairwise"], hide_index=True, width="stretch")
summary = res["summary"]
st.bar_chart(summary, x="criterion", y="mean", color="method", stack=False, height=260)

st.subheader("Export")
ratings = ratings_frame(db, STUDY)
buf = io.BytesIO()
ratings.to_parquet(buf, index=False)
d = st.columns(3)
d[0].download_button("ratings.csv", ratings.to_csv(index=False), "ratings.csv", "text/csv")
d[1].download_button("ratings.parquet", buf.getvalue(), "ratings.parquet", "application/octet-stream")
d[2].download_button("summary.csv", summary.to_csv(index=False), "summary.csv", "text/csv")
