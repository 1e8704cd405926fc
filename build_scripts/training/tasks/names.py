"""Word lists the generator draws entity names from.

Finite on purpose: a model trained for two hours on two CPU cores must see every name many times
before it can copy it reliably, so variety comes from combinations, not from an open vocabulary. The
lists are pairwise disjoint, single plain ASCII words, and no word is a prefix of another in the same
list, so a name never hides inside another name and a test can find it with a word-bounded search.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Priya", "Tom", "Amara", "Lucas", "Mei", "Omar", "Sofia", "Ivan", "Nadia", "Kofi",
    "Elena", "Ravi", "Hana", "Diego", "Leila", "Jonas", "Aiko", "Samuel", "Fatima", "Marco",
    "Ingrid", "Tariq", "Chloe", "Mateo", "Yara", "Felix", "Zara", "Hugo", "Anya", "Emeka",
    "Clara", "Rohan", "Lina", "Oscar", "Noor", "Pablo", "Greta", "Kenji", "Maya", "Bruno",
    "Selin", "Arjun", "Vera", "Ines", "Kwame", "Lucia", "Emil", "Rosa", "Dmitri", "Alma",
    "Jamal", "Nina", "Sven", "Farah", "Beatriz", "Idris", "Mila", "Raul", "Tessa", "Wei",
)

LAST_NAMES = (
    "Nair", "Berg", "Okafor", "Silva", "Chen", "Haddad", "Rossi", "Petrov", "Novak", "Mensah",
    "Costa", "Sharma", "Sato", "Garcia", "Karimi", "Weber", "Tanaka", "Adeyemi", "Khan", "Bianchi",
    "Larsen", "Rahman", "Dubois", "Moreno", "Aziz", "Fischer", "Lindqvist", "Hoffman", "Kowalski",
    "Varga", "Osei", "Iyer", "Moreau", "Santos", "Yilmaz", "Park", "Ibrahim", "Jensen", "Ferreira",
    "Kaur", "Nakamura", "Popescu", "Quinn", "Reyes", "Horvat", "Demir", "Ansah", "Lund", "Meyer",
    "Bakker", "Castillo", "Das", "Frost", "Grant", "Holm", "Ito", "Jovanovic", "Kim", "Lopez", "Mbeki",
)

TEAMS = (
    "Atlas", "Beacon", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Indigo", "Juniper",
    "Keystone", "Lantern", "Meridian", "Nimbus", "Onyx", "Pinnacle", "Quartz", "Ridge", "Summit",
    "Tundra", "Umber", "Vertex", "Willow", "Zenith", "Aurora", "Basalt", "Cobalt", "Dune", "Echo",
    "Flint", "Glacier", "Helix", "Iris", "Jade", "Kelp", "Lumen", "Mosaic", "Nova", "Opal", "Prism",
)

PROJECTS = (
    "Falcon", "Orion", "Lynx", "Comet", "Heron", "Puma", "Vega", "Sirius", "Osprey", "Raven",
    "Condor", "Panther", "Rigel", "Lyra", "Pegasus", "Hydra", "Phoenix", "Jaguar", "Mustang", "Cygnus",
    "Andromeda", "Antares", "Badger", "Bison", "Cheetah", "Dolphin", "Eagle", "Gazelle", "Hornet",
    "Ibis", "Kestrel", "Lemur", "Marlin", "Narwhal", "Otter", "Pelican", "Quokka", "Sparrow",
    "Tiger", "Walrus", "Wombat", "Zebra", "Mercury", "Neptune", "Saturn", "Titan", "Polaris", "Altair",
)

CITIES = (
    "Oslo", "Lima", "Kyiv", "Porto", "Quito", "Dakar", "Hanoi", "Perth", "Turin", "Lyon",
    "Cork", "Bergen", "Malmo", "Riga", "Tallinn", "Vilnius", "Gdansk", "Brno", "Graz", "Basel",
    "Ghent", "Leeds", "Utrecht", "Aarhus", "Tampere", "Bilbao", "Seville", "Genoa", "Split", "Nantes",
    "Austin", "Denver", "Boise", "Tulsa", "Halifax", "Regina", "Osaka", "Sendai", "Busan", "Pune",
    "Mysore", "Cusco", "Recife", "Rosario", "Accra", "Kumasi", "Nairobi", "Mombasa", "Durban", "Hobart",
)

ITEMS = (
    "lamps", "chairs", "desks", "tables", "shelves", "cables", "monitors", "printers", "kettles",
    "ladders", "helmets", "gloves", "boots", "jackets", "batteries", "drills", "hammers", "lanterns",
    "tents", "blankets", "crates", "pallets", "scanners", "heaters",
)

COURSES = (
    "safety", "privacy", "ethics", "security", "hygiene", "leadership", "driving", "welding",
    "lifting", "fire", "compliance", "coding", "budgeting", "writing",
)

# No colour starts with a vowel, so "a {colour} badge" is always grammatical.
COLOURS = ("blue", "green", "red", "yellow", "purple", "white", "black", "silver", "gold", "grey",
           "brown", "pink")

APPROVERS = ("finance office", "team lead", "regional director", "board", "legal office",
             "purchasing office")

TRANSPORTS = ("truck", "van", "rail", "air", "boat", "courier")

COMPANIES = (
    "Northwind", "Bluepeak", "Stonebridge", "Redfern", "Greyhaven", "Clearwater", "Ironwood",
    "Silverline", "Oakfield", "Brightmoor", "Fairhaven", "Goldcrest", "Westmark", "Eastgate",
    "Highland", "Riverside", "Sunvale", "Thornbury", "Pinegrove", "Moorland",
)

# Entity category -> the list its names come from ("person" combines FIRST_NAMES and LAST_NAMES).
POOLS: dict[str, tuple[str, ...]] = {
    "team": TEAMS,
    "project": PROJECTS,
    "city": CITIES,
    "site": CITIES,  # a warehouse's city; a document never uses one city both as a site and a city
    "item": ITEMS,
    "course": COURSES,
    "colour": COLOURS,
    "approver": APPROVERS,
    "transport": TRANSPORTS,
    "company": COMPANIES,
}
