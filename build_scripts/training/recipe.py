"""The bundled model's training recipe: its shape and the typed config of every stage.

Each stage's config is the dataclass that stage takes (``WarmupConfig``, ``SFTConfig``, ``RLConfig``); the run's
seed is applied with ``dataclasses.replace`` when a stage starts (``seeded``), so a recipe is the same for every
seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.engine.grounding import QuoteRules
from build_scripts.training.rl import RLConfig
from build_scripts.training.sft import SFTConfig
from build_scripts.training.warmup import WarmupConfig


@dataclass(frozen=True, slots=True)
class LaterPass:
    """A supervised pass after the main one: it starts from the pass before with a fresh optimizer and draws
    its data with the run's seed plus ``seed_offset``. ``name`` names its work folder and its entries in
    ``times.json``."""

    name: str
    sft: SFTConfig
    seed_offset: int


@dataclass(frozen=True, slots=True)
class TrainingRecipe:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 8
    max_position_embeddings: int = 4096
    warmup_layers: int = 2  # the induction warm-up runs on this many layers, then the model is grown
    warmup: WarmupConfig = WarmupConfig()
    recall: WarmupConfig | None = WarmupConfig(steps=1200, lr=2e-3, stop_below=0.4, task="recall")
    # From stage 2 on, documents that ask a count, a warehouse total or a budget left also chain what they count
    # (``tasks.World.chains``: "The plan of the Atlas team starts with Project Vega.", "In the plan of the Atlas
    # team, Project Vega is followed by ...", the last "followed by nothing."), walked one keyed lookup per link;
    # 2 of the drills on such a document look up a link. A model this small does not learn to scan for
    # "another" sentence like one already quoted (in either reading direction), nor to copy a list of names
    # out of one sentence, but it does learn a keyed lookup; and chains are cheaper to learn from the start
    # than added to a model trained without them.
    # 15% of the tokens are stand-alone column-arithmetic exercises (``tasks.exercises``): without them the
    # model learns the chain walks but not the column arithmetic, and gets most sums and differences wrong.
    # 45% of the tokens are natural documents in open vocabulary (``training.reading``: memos, letters, minutes,
    # lists with real prose around the facts, names no list can memorise), 3 more questions behind each: without
    # them the model reads only its generator's sentence templates and name lists, and invents quotes elsewhere.
    sft: SFTConfig = SFTConfig(stage_steps=(150, 300, 1600, 150), drills=6, link_drills=2, chains=True,
                               exercise_share=0.15, reading_share=0.45, reading_drills=3)
    # Then a second pass on the acceptance range, arithmetic drawn 5 times as often as most families, where some
    # drills ask about names the document never mentions (lookup drills alone teach the model that every
    # question has a sentence to quote), some practise arithmetic on the document's numbers and 4 look up links;
    # 15% of its tokens are exercises and 20% arithmetic notes (``tasks.arithmetic_note``: the arithmetic family
    # on documents of 80-250 tokens, three arithmetic drills behind each). Exercises alone get the columns
    # right but not the operands: the notes practise taking each operand from the step that quoted it. 40% are
    # natural documents, as in the main pass.
    later_passes: tuple[LaterPass, ...] = (
        LaterPass("sft_tail", SFTConfig(stage_steps=(0, 0, 800), drills=4, absent_drills=2, arithmetic_drills=3,
                                        link_drills=4, lr=4e-4, min_lr_ratio=0.5, warmup_steps=10, chains=True,
                                        extra_families=("arithmetic",) * 3, exercise_share=0.15, note_share=0.2,
                                        reading_share=0.4, reading_drills=3),
                  seed_offset=11),
    )
    rl: RLConfig = RLConfig(iterations=20, questions=8, group=4, max_tokens=512)
    eval_per_family_per_bucket: int = 20
    select_per_family: int = 3  # held-out questions per family and bucket <= 1,000 tokens, for keeping RL or not
    eval_max_tokens: int = 1536
    # how the model's quotes are grounded when it is served (its generation_config.json) and evaluated: a quote
    # opens at a sentence near the question and closes where a sentence ends, the first step writes the question
    # out verbatim, and a value named from a quote is words of it (core.engine.grounding)
    quotes: QuoteRules = QuoteRules(whole_sentences=True, near_question=True, restate_opener="1. Find:",
                                    value_opener="answers the question:")

    @property
    def chains(self) -> bool:
        """Whether RL, selection and evaluation documents carry chains, as the supervised passes' do."""
        return self.sft.chains


@dataclass(frozen=True, slots=True)
class SeededStages:
    """A recipe's stage configs with one run's seed applied."""

    warmup: WarmupConfig
    recall: WarmupConfig | None
    sft: SFTConfig
    later_passes: tuple[LaterPass, ...]
    rl: RLConfig


def seeded(recipe: TrainingRecipe, seed: int) -> SeededStages:
    """Each stage's config for the run seeded ``seed``: the stages draw from different seeds so their data
    differ, and RL's documents carry chains when the supervised passes' do."""
    return SeededStages(
        warmup=replace(recipe.warmup, seed=seed),
        recall=None if recipe.recall is None else replace(recipe.recall, seed=seed + 2),
        sft=replace(recipe.sft, seed=seed),
        later_passes=tuple(replace(p, sft=replace(p.sft, seed=seed + p.seed_offset)) for p in recipe.later_passes),
        rl=replace(recipe.rl, seed=seed, chains=recipe.chains),
    )


def default_recipe() -> TrainingRecipe:
    return TrainingRecipe()


def quick_recipe() -> TrainingRecipe:
    """A minutes-long run of every stage, to check the pipeline end to end."""
    return TrainingRecipe(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=1024, warmup_layers=1,
        warmup=WarmupConfig(steps=3, batch=4, source_tokens=16, copies_tokens=16),
        recall=WarmupConfig(steps=2, batch=2, records=4, queries=2, task="recall"),
        sft=SFTConfig(stage_steps=(4, 4, 4, 2), tokens_per_batch=2048, steps_per_chunk=2, warmup_steps=2, log_every=1,
                      drills=2, link_drills=1, chains=True, exercise_share=0.2, reading_share=0.2, reading_drills=1),
        later_passes=(LaterPass("sft_tail", SFTConfig(
            stage_steps=(0, 0, 2), tokens_per_batch=2048, steps_per_chunk=2, warmup_steps=1, log_every=1, drills=1,
            absent_drills=1, arithmetic_drills=1, chains=True, exercise_share=0.1, note_share=0.3), seed_offset=11),),
        rl=RLConfig(iterations=2, questions=2, group=2, max_tokens=64),
        eval_per_family_per_bucket=1, select_per_family=1, eval_max_tokens=64)
