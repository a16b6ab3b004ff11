"""The Chinese of problem responses, in one place (issue 12: "a clear Chinese and English
message"; issue 17: every problem message in Chinese).

Every problem body carries ``title`` (English) and ``title_zh`` (:data:`TITLES_ZH`, one per
problem type), ``detail`` (the specific message, as raised) and ``detail_zh``, chosen by
:func:`detail_zh`:

1. a schema error (422 ``validation-error``) is rendered from its structured errors
   (where, pydantic's error ``type`` and its limits) by :data:`VALIDATION_ZH`;
2. a message that already carries its Chinese — the bounds and legal-time checks write
   ``English (中文)`` — answers that Chinese part, or the whole message when the Chinese
   is not in a trailing parenthesis;
3. any other message answers the type's Chinese title with the English specifics after
   it, so a reader always gets a Chinese sentence saying what went wrong and the exact
   English one saying where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

#: Problem type slug -> Chinese title.
TITLES_ZH: Final[dict[str, str]] = {
    "invalid-command": "命令中有字段取值无效",
    "idempotency-key-reused": "该幂等键已用于另一请求",
    "validation-error": "请求格式不符合接口要求",
    "rule-violation": "业务规则不允许此操作",
    "out-of-order": "办件当前环节不允许此操作",
    "already-done": "此操作只能进行一次，且已完成",
    "deadline-passed": "此操作的法定期限已过",
    "forbidden": "您的角色无权进行此操作",
    "purpose-required": "纪检监察人员查阅须说明用途（X-Purpose）",
    "unauthorized": "需要有效的身份令牌",
    "not-found": "未找到",
    "conflict": "办件已被他人修改，请刷新后重试",
    "precondition-failed": "办件已不是该版本，请刷新后重试",
    "bad-precondition": 'If-Match 须为 "<版本号>"',
    "unknown-parameter": "接口不接受该查询参数",
    "method-not-allowed": "不支持该请求方法",
    "too-large": "请求体过大",
    "too-many-attempts": "失败次数过多，请稍后再试",
    "too-many-streams": "打开的实时连接过多，请稍后再试",
    "unavailable": "服务暂不可用，未作任何更改，请稍后重试",
    "internal-error": "系统内部错误",
}

#: pydantic error ``type`` -> Chinese (``{name}`` fields from the error's ``ctx``).
VALIDATION_ZH: Final[dict[str, str]] = {
    "missing": "缺少必填项",
    "extra_forbidden": "不接受此字段",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文本",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "greater_than_equal": "不得小于 {ge}",
    "greater_than": "须大于 {gt}",
    "less_than_equal": "不得大于 {le}",
    "less_than": "须小于 {lt}",
    "string_too_short": "长度不得少于 {min_length} 个字符",
    "string_too_long": "长度不得超过 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "至多 {max_length} 项",
    "literal_error": "取值须为 {expected} 之一",
    "enum": "取值须为 {expected} 之一",
    "string_pattern_mismatch": "格式不符合要求",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期（YYYY-MM-DD），不含时刻",
    "datetime_parsing": "应为带时区的时间（ISO 8601）",
    "datetime_type": "应为带时区的时间（ISO 8601）",
    "datetime_from_date_parsing": "应为带时区的时间（ISO 8601）",
    "timezone_aware": "时间须带时区",
    "uuid_parsing": "应为 UUID",
    "uuid_type": "应为 UUID",
    "json_invalid": "请求体不是有效的 JSON",
    "value_error": "取值无效",
}

_CJK = re.compile(r"[\u3400-\u9fff]")
#: A trailing "(中文)" or "（中文）" holding the Chinese of an ``English (中文)`` message.
_TRAILING_ZH = re.compile(r"[(（]([^()（）]*[\u3400-\u9fff][^()（）]*)[)）]\s*$")


def title_zh(slug: str) -> str:
    """The Chinese title of a problem type."""
    return TITLES_ZH.get(slug, TITLES_ZH["internal-error"])


def detail_zh(slug: str, detail: str) -> str:
    """The Chinese message of one problem other than a schema error (rules 2 and 3 of the
    module's docstring; schema errors: :func:`validation_zh`)."""
    if _CJK.search(detail):
        match = _TRAILING_ZH.search(detail)
        return match.group(1).strip() if match else detail
    return f"{title_zh(slug)}：{detail}" if detail else title_zh(slug)


def validation_zh(error: Mapping[str, Any]) -> str:
    """One schema error in Chinese: where, then what (pydantic's own message, if it already
    carries Chinese, e.g. a custom validator's)."""
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
    message = str(error.get("msg", ""))
    if _CJK.search(message):
        what = message.removeprefix("Value error, ")
    else:
        template = VALIDATION_ZH.get(str(error.get("type", "")), "取值无效")
        try:
            what = template.format_map(dict(error.get("ctx") or {}))
        except (KeyError, IndexError, ValueError):
            what = template
    return f"{where}：{what}" if where else what
