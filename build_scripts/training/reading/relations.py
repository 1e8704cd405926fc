"""The facts a document can state, each in several wordings, with the questions that ask for them.

A relation links a subject (a team, a person, a warehouse, an event ...) to a value (a person, a town, a
number, a date ...). It has several sentence forms (active, passive, "Key: value" lines, fronted phrases),
several question forms, the clause a trace's "Find ..." step uses ("who manages the Cedar team"), the
answer sentence, and, for values that are themselves things a document talks about, the noun phrase a
two-hop question names them by ("the person who manages the Cedar team"). ``{S}`` is the subject phrase,
``{V}`` the value as the document writes it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rel:
    name: str
    subject: str  # the kind of thing the subject is (``world.SUBJECTS``)
    value: str  # person | town | place | firm | group | day | time | date | count | money | weight | text
    sentences: tuple[str, ...]
    questions: tuple[str, ...]
    what: str
    answer: str
    hop: str | None = None  # the value named through this fact: "the person who manages {S}"
    counted: bool = False  # a count of things ("{V}" is "420 crates of fish"): sums and differences add these
    # questions that name the value and ask for the subject, each with its trace clause: ("What does {V} lead?",
    # "what {V} leads")
    reverse: tuple[tuple[str, str], ...] = ()


R = Rel
RELATIONS: dict[str, Rel] = {r.name: r for r in (
    R("manages", "group", "person",
      ("{V} manages {S}.", "{S} is managed by {V}.", "The manager of {S} is {V}.", "{S} is run by {V}.",
       "{V} is in charge of {S}.", "Manager of {S}: {V}."),
      ("Who manages {S}?", "Who is the manager of {S}?", "Who runs {S}?", "Who is in charge of {S}?"),
      "who manages {S}", "{V} manages {S}.", "the person who manages {S}",
      reverse=(("What does {V} manage?", "what {V} manages"), ("Which group is {V} in charge of?", "what {V} is in charge of"),
               ("What is {V} the manager of?", "what {V} manages"))),
    R("leads", "group", "person",
      ("{V} leads {S}.", "{S} is led by {V}.", "The leader of {S} is {V}.", "{S} will be led by {V}."),
      ("Who leads {S}?", "Who is the leader of {S}?", "Who is {S} led by?"),
      "who leads {S}", "{V} leads {S}.", "the person who leads {S}",
      reverse=(("What does {V} lead?", "what {V} leads"), ("Which group is led by {V}?", "which group {V} leads"))),
    R("role", "group", "person",
      ("The {R} of {S} is {V}.", "{V} is the {R} of {S}.", "{V} serves as {R} of {S}.", "{R_cap}: {V}."),
      ("Who is the {R} of {S}?", "Who serves as {R} of {S}?"),
      "who the {R} of {S} is", "The {R} of {S} is {V}.", "the {R} of {S}"),
    R("based", "group", "town",
      ("{S} is based in {V}.", "{S} works from {V}.", "{S} has its office in {V}.", "The home of {S} is {V}.",
       "{S} moved to {V} last year."),
      ("Where is {S} based?", "In which town is {S} based?", "Where does {S} work from?"),
      "where {S} is based", "{S} is based in {V}.", "the town where {S} is based"),
    R("works_in", "person", "town",
      ("{S} works in {V}.", "{S} works from the {V} office.", "{S} is based at the {V} office.",
       "{S} now works in {V}."),
      ("Where does {S} work?", "In which town does {S} work?", "Which office does {S} work from?"),
      "where {S} works", "{S} works in {V}.", "the town where {S} works"),
    R("member", "person", "group",
      ("{S} is a member of {V}.", "{S} belongs to {V}.", "{S} joined {V} last year.", "{S} is part of {V}."),
      ("Which group is {S} a member of?", "Which team does {S} belong to?", "What is {S} a member of?"),
      "which group {S} is a member of", "{S} is a member of {V}.", "the group {S} belongs to"),
    R("reports", "person", "person",
      ("{S} reports to {V}.", "{V} is the supervisor of {S}.", "The supervisor of {S} is {V}."),
      ("Who does {S} report to?", "Who is the supervisor of {S}?"),
      "who {S} reports to", "{S} reports to {V}.", "the person {S} reports to"),
    R("kept", "thing", "place",
      ("{S} is kept in {V}.", "{S} is stored in {V}.", "You will find {S} in {V}.", "We keep {S} in {V}."),
      ("Where is {S} kept?", "Where is {S} stored?", "Where can {S} be found?"),
      "where {S} is kept", "{S} is kept in {V}.", None),
    R("owner", "thing", "person",
      ("{S} belongs to {V}.", "{S} is owned by {V}.", "{V} owns {S}.", "{S} is looked after by {V}."),
      ("Who owns {S}?", "Whose is {S}?", "Who does {S} belong to?"),
      "who owns {S}", "{S} belongs to {V}.", "the owner of {S}", reverse=(("What does {V} own?", "what {V} owns"),)),
    R("supplier", "thing", "firm",
      ("{S} comes from {V}.", "{S} is supplied by {V}.", "{V} supplies {S}.", "We buy {S} from {V}."),
      ("Who supplies {S}?", "Where does {S} come from?", "Which firm supplies {S}?"),
      "who supplies {S}", "{S} is supplied by {V}.", "the firm that supplies {S}",
      reverse=(("What does {V} supply?", "what {V} supplies"), ("What do we buy from {V}?", "what we buy from {V}"))),
    R("firm_town", "firm", "town",
      ("{S} is in {V}.", "{S} is based in {V}.", "{S} has its workshop in {V}."),
      ("Where is {S} based?", "In which town is {S}?"),
      "where {S} is based", "{S} is based in {V}.", None),
    R("delivers", "firm", "day",
      ("{S} delivers on {V}s.", "Deliveries from {S} arrive on {V}s.", "{S} comes every {V}."),
      ("On which day does {S} deliver?", "When does {S} deliver?"),
      "on which day {S} delivers", "{S} delivers on {V}s.", None),
    R("venue", "event", "place",
      ("{S} will be held in {V}.", "{S} takes place in {V}.", "{S} is in {V} this year.",
       "This year {S} will be held in {V}."),
      ("Where will {S} be held?", "Where does {S} take place?", "In which room is {S}?"),
      "where {S} is held", "{S} will be held in {V}.", "the place where {S} is held"),
    R("event_date", "event", "date",
      ("{S} takes place on {V}.", "{S} will be held on {V}.", "{S} is on {V}.", "{S} was held on {V}.",
       "The date of {S} is {V}."),
      ("When does {S} take place?", "On which date is {S}?", "What is the date of {S}?", "When is {S}?"),
      "when {S} takes place", "{S} takes place on {V}.", None),
    R("organiser", "event", "person",
      ("{S} is organised by {V}.", "{V} organises {S}.", "{V} is organising {S}.", "Organiser of {S}: {V}."),
      ("Who organises {S}?", "Who is organising {S}?", "Who is the organiser of {S}?"),
      "who organises {S}", "{V} organises {S}.", "the person who organises {S}",
      reverse=(("What is {V} organising?", "what {V} organises"), ("Which event does {V} organise?", "which event {V} organises"))),
    R("starts", "service", "time",
      ("{S} starts at {V}.", "{S} begins at {V}.", "{S} leaves at {V}.", "{S}: {V}."),
      ("When does {S} start?", "What time does {S} begin?", "At what time does {S} leave?"),
      "when {S} starts", "{S} starts at {V}.", None),
    R("taught", "service", "person",
      ("{S} is taught by {V}.", "{V} teaches {S}.", "{S} is run by {V}.", "{S} is given by {V}."),
      ("Who teaches {S}?", "Who runs {S}?", "Who gives {S}?"),
      "who teaches {S}", "{V} teaches {S}.", "the person who teaches {S}",
      reverse=(("What does {V} teach?", "what {V} teaches"), ("What does {V} run?", "what {V} runs"))),
    R("service_day", "service", "day",
      ("{S} is on {V}s.", "{S} takes place every {V}.", "{S} happens on {V}s."),
      ("On which day is {S}?", "When does {S} take place?"),
      "on which day {S} is", "{S} is on {V}s.", None),
    R("costs", "thing", "money",
      ("{S} costs {V}.", "The price of {S} is {V}.", "{S} will cost {V}.", "{S} cost us {V}.", "{S_cap}: {V}."),
      ("How much does {S} cost?", "What is the price of {S}?", "What does {S} cost?"),
      "how much {S} costs", "{S} costs {V}.", None),
    R("holds", "site", "count",
      ("{S} holds {V}.", "There are {V} at {S}.", "{S} has {V} in stock.", "At {S} there are {V}."),
      ("How many {U} does {S} hold?", "How many {U} are there at {S}?", "How many {U} does {S} have?"),
      "how many {U} {S} holds", "{S} holds {V}.", None, counted=True),
    R("bought", "group", "count",
      ("{S} bought {V}.", "This week {S} bought {V}.", "{S} ordered {V}."),
      ("How many {U} did {S} buy?", "How many {U} were bought by {S}?"),
      "how many {U} {S} bought", "{S} bought {V}.", None, counted=True),
    R("weighs", "parcel", "weight",
      ("{S} weighs {V}.", "The weight of {S} is {V}.", "{S_cap}: {V}."),
      ("How much does {S} weigh?", "What is the weight of {S}?", "How heavy is {S}?"),
      "how much {S} weighs", "{S} weighs {V}.", None),
    R("size", "group", "count",
      ("{S} has {V}.", "There are {V} in {S}.", "{S} is made up of {V}."),
      ("How many {U} does {S} have?", "How many {U} are there in {S}?"),
      "how many {U} {S} has", "{S} has {V}.", None, counted=True),
    R("contact", "thing", "person",
      ("Questions about {S} go to {V}.", "For {S}, please contact {V}.", "{V} deals with {S}.",
       "Anyone with questions about {S} should speak to {V}."),
      ("Who should you contact about {S}?", "Who deals with {S}?", "Who should questions about {S} go to?"),
      "who deals with {S}", "{V} deals with {S}.", "the person who deals with {S}",
      reverse=(("What does {V} deal with?", "what {V} deals with"),)),
    # any verb ({VB} base, {VBZ} third person, {VBN} past participle, drawn per fact): who does it, how often
    R("done_by", "thing", "person",
      ("{S_cap} is {VBN} by {V}.", "{V} {VBZ} {S}.", "{S_cap} will be {VBN} by {V}.", "{S_cap} was {VBN} by {V}.",
       "{S_cap} has been {VBN} by {V}.", "It is {V} who {VBZ} {S}."),
      ("Who {VBZ} {S}?", "By whom is {S} {VBN}?", "Who is {S} {VBN} by?", "Who will {VB} {S}?"),
      "who {VBZ} {S}", "{V} {VBZ} {S}.", "the person who {VBZ} {S}"),
    R("done_by_firm", "event", "firm",
      ("{S_cap} is {VBN} by {V}.", "{V} {VBZ} {S}.", "{S_cap} will be {VBN} by {V}.", "{V} has {VBN} {S}."),
      ("Who {VBZ} {S}?", "Which firm {VBZ} {S}?", "By whom is {S} {VBN}?"),
      "who {VBZ} {S}", "{V} {VBZ} {S}.", "the firm that {VBZ} {S}"),
    R("how_often", "thing", "period",
      ("{S_cap} is {VBN} every {V}.", "{S_cap} should be {VBN} every {V}.", "Every {V}, {S} is {VBN}.",
       "We {VB} {S} every {V}."),
      ("How often is {S} {VBN}?", "How often should {S} be {VBN}?", "How often do we {VB} {S}?"),
      "how often {S} is {VBN}", "{S_cap} is {VBN} every {V}.", None),
    R("size_of", "thing", "measure",
      ("{S_cap} is {V} {ADJ}.", "The {NOUN} of {S} is {V}.", "{S_cap} measures {V} in {NOUN}.",
       "At {V} {ADJ}, {S} is the largest we have."),
      ("How {ADJ} is {S}?", "What is the {NOUN} of {S}?"),
      "how {ADJ} {S} is", "{S_cap} is {V} {ADJ}.", None),
    # rules: the subject is a condition, the value what follows from it
    R("rule", "condition", "text",
      ("If {S}, {V}.", "When {S}, {V}.", "{V_cap} if {S}."),
      ("What happens if {S}?", "What should happen if {S}?", "What is the rule if {S}?"),
      "what happens if {S}", "If {S}, {V}.", None),
    R("threshold", "goods", "firm",
      ("{S_cap} heavier than {L} kilograms are sent with {V}, and lighter {S} with {W}.",
       "{S_cap} over {L} kilograms go with {V}; all other {S} go with {W}."),
      ("How are {S} sent?",), "how {S} are sent", "{S_cap} over {L} kilograms go with {V}.", None),
)}
LOOKUPS = tuple(name for name, rel in RELATIONS.items() if rel.value != "text" and name != "threshold")

# Which relations a subject of each kind can have (what documents and questions choose from).
BY_SUBJECT: dict[str, tuple[str, ...]] = {}
for _rel in RELATIONS.values():
    BY_SUBJECT[_rel.subject] = BY_SUBJECT.get(_rel.subject, ()) + (_rel.name,)

# Two hops: a first fact whose value is the subject of a second (the manager of a team, then where that
# person works).
HOPS: tuple[tuple[str, str], ...] = tuple((a.name, b.name) for a in RELATIONS.values() if a.hop
                                          for b in RELATIONS.values() if b.subject == a.value)
