B	sin_cacheJp(ij¿žTE>Ï0i?û¾K¿r¿o…=B‹w¿­Ùí;»=c?-ÁE½æOŸ¾ÆQ>Íx
¿NM<¿p,è>‡œí>Ìt›:°1c½¹™$½œ]u?\Òñ¾fkn?Md6>k’Y>O¿3u?sÞ	?•P%?