"""cfkit study app (run by `cfkit study serve`): volunteer rating at /, admin at /admin, metrics at /metrics."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Face study", page_icon="🙂", layout="wide", initial_sidebar_state="collapsed")
here = Path(__file__).parent / "study"
pages = [
    st.Page(here / "rate.py", title="Rating", url_path="rate", default=True),
    st.Page(here / "admin.py", title="Admin", url_path="admin"),
    st.Page(here / "metrics.py", title="Metrics explorer", url_path="metrics"),
]
st.navigation(pages, position="hidden").run()
