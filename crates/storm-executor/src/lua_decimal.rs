//! Exact decimal arithmetic on strings inside Redis' Lua, shared by the gate (the balance and the
//! daily loss compared with what a chain needs) and the outcome script (the day's loss added to).
//! Lua numbers are doubles — 0.1 + 0.2 is not 0.3 in them — so money never becomes one: values
//! stay the decimal strings storm writes everywhere (`-12.5`, `0.00100000`) and are compared and
//! added digit by digit. A string that is not a plain decimal is unreadable: `lt` answers false
//! and `dadd` nil, and each caller says what that means for it.

/// The Lua source: `parts(s)` (sign, integer digits, fraction digits, or nil), `lt(a, b)` and
/// `dadd(a, b)`. A macro so that `concat!` can put it in front of a script at compile time.
macro_rules! decimal_lua {
    () => {
        r#"
local function parts(s)
  local neg = string.sub(s, 1, 1) == '-'
  if neg then s = string.sub(s, 2) end
  local i, f = string.match(s, '^(%d*)%.?(%d*)$')
  if not i then return nil end
  i = (string.gsub(i, '^0+', ''))
  f = (string.gsub(f, '0+$', ''))
  if i == '' and f == '' then neg = false end
  return neg, i, f
end
-- a < b for decimal strings, exactly
local function lt(a, b)
  local an, ai, af = parts(a)
  local bn, bi, bf = parts(b)
  if ai == nil or bi == nil then return false end
  if an ~= bn then return an end
  local less
  if #ai ~= #bi then
    less = #ai < #bi
  elseif ai ~= bi then
    less = ai < bi
  else
    local n = math.max(#af, #bf)
    af = af .. string.rep('0', n - #af)
    bf = bf .. string.rep('0', n - #bf)
    if af == bf then return false end
    less = af < bf
  end
  if an then return not less end
  return less
end
-- a + b for decimal strings, exactly (normalized: no leading or trailing zeros); nil when either
-- is not a decimal with at least one digit
local function dadd(a, b)
  if not (string.find(a, '%d') and string.find(b, '%d')) then return nil end
  local an, ai, af = parts(a)
  local bn, bi, bf = parts(b)
  if ai == nil or bi == nil then return nil end
  local nf, ni = math.max(#af, #bf), math.max(#ai, #bi)
  local x = string.rep('0', ni - #ai) .. ai .. af .. string.rep('0', nf - #af)
  local y = string.rep('0', ni - #bi) .. bi .. bf .. string.rep('0', nf - #bf)
  local neg, adding = an, an == bn
  if not adding and x < y then x, y, neg = y, x, bn end
  local digits, carry = {}, 0
  for k = #x, 1, -1 do
    local d
    if adding then d = string.byte(x, k) + string.byte(y, k) - 96 + carry
    else d = string.byte(x, k) - string.byte(y, k) - carry end
    carry = 0
    if d >= 10 then d, carry = d - 10, 1 elseif d < 0 then d, carry = d + 10, 1 end
    digits[k] = string.char(d + 48)
  end
  local s = table.concat(digits)
  if carry == 1 then s = '1' .. s end
  local int = (string.gsub(string.sub(s, 1, #s - nf), '^0+', ''))
  local frac = (string.gsub(string.sub(s, #s - nf + 1), '0+$', ''))
  if int == '' then int = '0' end
  if frac ~= '' then int = int .. '.' .. frac end
  if int == '0' then return '0' end
  if neg then return '-' .. int end
  return int
end
"#
    };
}

pub(crate) use decimal_lua;

/// The same source, for tests that run the functions on a real Redis.
pub const SOURCE: &str = decimal_lua!();
