"""Metrics explorer (token required): `cfkit eval` metrics next to the study's human ratings."""

import os

import pandas as pd
import streamlit as st

from cfkit.errors import InputError
from cfkit.study.analysis import analyze, load_eval_metrics, metric_agreement
from cfkit.study.config import ENV_DB, ENV_EVAL, ENV_STUDY
from cfkit.study.db import open_db
from cfkit.study.webauth import require_admin

STUDY = os.environ.get(ENV_STUDY, "study")
st.title("Metrics explorer: do automatic metrics agree with people?")
if not require_admin():
    st.stop()
db = open_db(os.environ[ENV_DB], create=False)
eval_dir = st.text_input("Evaluation folder (cfkit eval --out)", os.environ.get(ENV_EVAL, ""))
metrics = load_eval_metrics(eval_dir) if eval_dir else pd.DataFrame(columns=["method", "metric", "value"])
try:
    res = analyze(db, STUDY, n_boot=500)
except InputError as e:
    st.info(str(e))
    st.stop()
fmt = res["config"]["response_format"]
human = res["summary"].pivot(index="method", columns="criterion", values="mean")
auto = metrics.pivot(index="method", columns="metric", values="value") if len(metrics) else pd.DataFrame()
st.subheader("Per method")
st.dataframe(human.join(auto, how="outer"), width="stretch")
if auto.empty:
    st.info("No metrics.json found in that folder.")
    st.stop()
agree = metric_agreement(metrics, res["summary"], fmt)
st.subheader("Rank agreement (+1: the metric orders methods exactly as people do)")
st.dataframe(agree, hide_index=True, width="stretch")
metric = st.selectbox("Metric", sorted(auto.columns))
crit = st.selectbox("Criterion", list(human.columns))
both = pd.DataFrame({metric: auto[metric], crit: human[crit]}).dropna()
st.scatter_chart(both.reset_index(), x=metric, y=crit, color="method", height=300)
