"""Memory-evolution-guided training-data synthesis (paper §4): persona → profile and S_0 → dated events →
labelled memory ops per event → dialogue sessions expressing them; output ``(S_t, session, ops, S*_{t+1})``.

Library code takes a :class:`deltamem.llm.ChatModel` instance; see ``docs/synthesis.md``.
"""

from deltamem.synth.config import STAGES, Stage, SynthConfig
from deltamem.synth.fake import fake_reply, fake_synth_model, prompt_stage
from deltamem.synth.jsonio import extract_json_object
from deltamem.synth.personas import Persona, load_personas, sample_personas
from deltamem.synth.pipeline import SynthPipeline
from deltamem.synth.stats import compute_stats
from deltamem.synth.validate import LabelledOp, Rejection, transition_problems
from deltamem.synth.verify import validate_dir

__all__ = [
    "STAGES", "LabelledOp", "Persona", "Rejection", "Stage", "SynthConfig", "SynthPipeline", "compute_stats",
    "extract_json_object", "fake_reply", "fake_synth_model", "load_personas", "prompt_stage", "sample_personas",
    "transition_problems", "validate_dir",
]
