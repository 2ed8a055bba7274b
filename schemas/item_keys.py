"""The item-key columns a row may identify its SKU with (see drops.md, Item keys)."""

UPC_SET = ("upc",)
STYLE_SET = ("style_number", "style_identifier", "color_code", "size_name")
IDS_SET = ("style_id", "style_color_id", "size_code")
KEY_SETS = {"upc": UPC_SET, "style": STYLE_SET, "ids": IDS_SET}
KEY_COLUMNS = UPC_SET + STYLE_SET + IDS_SET
