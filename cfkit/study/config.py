"""One source of defaults for study design, shared by the CLI and the Python API (typed by :mod:`cfkit.options`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FORMATS = ("likert", "rank", "pairwise")
"""Response formats: 1-5 Likert per output, rank all outputs, or pairwise forced choice."""

DEFAULT_CRITERIA = ("identity", "realism", "overall")
CRITERION_QUESTIONS = {
    "identity": "Does it look like the same person as the source?",
    "realism": "How realistic / well drawn does it look?",
    "overall": "How good is the result overall?",
}
LIKERT_LEVELS = (1, 2, 3, 4, 5)
ENV_DB = "CFKIT_STUDY_DB"
ENV_STUDY = "CFKIT_STUDY"
ENV_ADMIN_TOKEN = "CFKIT_ADMIN_TOKEN"
ENV_EVAL = "CFKIT_EVAL_DIR"


@dataclass
class StudyConfig:
    """Everything that defines a study; stored in the database and exported as YAML."""

    name: str = "study"
    n_sources: int = 48  # seed 002: 48 image groups
    criteria: tuple[str, ...] = DEFAULT_CRITERIA
    response_format: str = "likert"
    ratings_per_item: int = 59  # seed 002: 59 volunteers; quota per item
    trials_per_participant: int | None = None  # None: every item once
    attention_duplicates: int = 1  # a repeated trial, checked for consistency
    attention_broken: int = 1  # a trial with an obviously broken output, which must come out worst
    seed: int = 0
    stratify_by: str | None = None  # manifest column (e.g. gender); None: plain seeded sample
    stale_after_s: int = 600  # a shown trial unanswered this long gives its item's place back to the quota
    instructions: str = (
        "You will see a source face and several results made from it. "
        "Rate each result on every question. There are no right or wrong answers; go with your first impression."
    )
    questions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from cfkit.errors import InputError

        self.criteria = tuple(self.criteria)
        if self.response_format not in FORMATS:
            raise InputError(f"unknown response format '{self.response_format}' (known: {', '.join(FORMATS)})")
        if not self.criteria or len(set(self.criteria)) != len(self.criteria):
            raise InputError("criteria must be a non-empty list of distinct names")
        for c in self.criteria:
            if not c.replace("_", "").replace("-", "").isalnum():
                raise InputError(f"criterion '{c}' must be letters, digits, '-' or '_'")
        if self.n_sources < 1 or self.ratings_per_item < 1:
            raise InputError("n_sources and ratings_per_item must be at least 1")
        if min(self.attention_duplicates, self.attention_broken) < 0:
            raise InputError("attention check counts must be >= 0")

    def question(self, criterion: str) -> str:
        return self.questions.get(criterion) or CRITERION_QUESTIONS.get(criterion) or f"Rate: {criterion}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["criteria"] = list(self.criteria)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StudyConfig:
        """The config of a saved study (typed; keys of other cfkit versions are ignored)."""
        from cfkit.options import load_options

        known = set(cls.__dataclass_fields__)
        return load_options(cls, {k: v for k, v in d.items() if k in known}, where="saved study config")
