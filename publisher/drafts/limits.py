"""What Instagram takes, in one table: the numbers every draft and media check uses.

Sources: instagram-api.md §2.1 (parameters per media type) and §6 (Meta's IG User Media
reference, media specifications). Kept together so that they cannot drift apart
(LESSONS.md, "limits hard-coded").
"""

from __future__ import annotations

# Captions (§6 "Caption").
CAPTION_MAX = 2200
HASHTAGS_MAX = 30
HASHTAGS_APP = 5  # the Instagram app caps posts at 5 since Dec 2025; the API may follow
MENTIONS_MAX = 20

# The first comment (SPEC §8): the caption's length and hashtag limits (issue 9).
FIRST_COMMENT_MAX = CAPTION_MAX
FIRST_COMMENT_HASHTAGS_MAX = HASHTAGS_MAX

# Trial reels (§2.1 `trial_params`): the draft's word for each graduation strategy.
TRIAL_STRATEGIES = ("manual", "performance")

# Options (§2.1).
COLLABORATORS_MAX = 3
USER_TAGS_MAX = 20
ALT_TEXT_MAX = 1000

# How many media items each draft type has: (least, most).
MEDIA_COUNT: dict[str, tuple[int, int]] = {
    "post": (1, 1),
    "carousel": (2, 10),
    "reel": (1, 1),
    "story": (1, 1),
}

# Which draft types take each option (§2.1).
OPTION_TYPES: dict[str, tuple[str, ...]] = {
    "alt_text": ("post", "carousel"),
    "location_id": ("post", "carousel", "reel"),
    "user_tags": ("post", "carousel", "reel", "story"),
    "collaborators": ("post", "carousel", "reel"),
    "cover": ("reel",),
    "thumb_offset": ("reel",),
    "share_to_feed": ("reel",),
    "trial": ("reel",),
    "audio_name": ("reel",),
    # stories take no comments through the API; every other type does
    "first_comment": ("post", "carousel", "reel"),
    "fit": ("post", "carousel"),  # SPEC §7: crop | pad, for images outside 4:5..1.91:1
}

# Images (§6 "Images").
# Size, format and the exact feed ratio (4:5..1.91:1) live with the conversion that makes
# images fit them: publisher.hosting.convert and publisher.hosting.ratio.
FEED_WIDTH_MIN, FEED_WIDTH_MAX = 320, 1440  # outside: Instagram rescales (a warning)

# Videos (§6 "Reels", "Story video", "Carousel"): container, codecs, frame rate, width,
# duration and size per use live in one table with their sources, with the transcode that
# makes a video keep them: publisher.hosting.videospec.
