"""The names of the speech corpus's voice families (standard library only, so `--help` stays fast).

What each family is and how it speaks lives in `speech_voices`.
"""

FAMILIES = ("espeak", "flite", "festival", "festvox", "ktuberling", "prompts")
DEFAULT_FAMILIES = ("espeak", "flite", "festival", "prompts")  # the corpus the committed studies used
