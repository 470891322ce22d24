const isPalindrome = (s) => {
  const cleaned = s.toLowerCase().replace(/[^a-z0-9]/g, '');
  return cleaned === [...cleaned].reverse().join('');
};

function longestPalindrome(s) {
  let best = '';
  for (let c = 0; c < s.length; c++) {
    for (const [l0, h0] of [[c, c], [c, c + 1]]) {
      let lo = l0;
      let hi = h0;
      while (lo >= 0 && hi < s.length && s[lo] === s[hi]) {
        lo--;
        hi++;
      }
      if (hi - lo - 1 > best.length) best = s.slice(lo + 1, hi);
    }
  }
  return best;
}

console.log(isPalindrome('A man, a plan, a canal: Panama'), longestPalindrome('babad'));
